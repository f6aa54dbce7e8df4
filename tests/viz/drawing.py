"""Helpers of the rendering tests: a reader of the DOT text `to_dot` writes, one of graphviz's layout of it, and a
hand-made genotype."""

from __future__ import annotations

import json
import math
import re
from typing import Any, NamedTuple

from nasrec.genotype import Genotype

_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s\]]+)')
_NODE = re.compile(r"^\s*(\w+) \[(.*)\]$")
_EDGE = re.compile(r"^\s*(\w+) -> (\w+) \[(.*)\]$")
_CLUSTER = re.compile(r"^\s*subgraph (cluster_\w+) \{$")


def _attrs(text: str) -> dict[str, str]:
    return {k: v[1:-1] if v.startswith('"') else v for k, v in _ATTR.findall(text)}


class Dot:
    """Nodes, edges (visible; invisible apart), each cluster's attributes and nodes, read from DOT text.

    `flows` are the visible edges as data flows: an edge written `a -> b [dir=back]` flows from b to a."""

    def __init__(self, text: str) -> None:
        self.nodes: dict[str, dict[str, str]] = {}
        self.edges: list[tuple[str, str, dict[str, str]]] = []
        self.invisible: list[tuple[str, str]] = []
        self.clusters: dict[str, dict[str, Any]] = {}
        cluster: str | None = None
        for line in text.splitlines():
            if m := _CLUSTER.match(line):
                cluster = m[1]
                self.clusters[cluster] = {"attrs": {}, "nodes": []}
            elif line == "\t}":
                cluster = None
            elif m := _EDGE.match(line):
                attrs = _attrs(m[3])
                if attrs.get("style") == "invis":
                    self.invisible.append((m[1], m[2]))
                else:
                    self.edges.append((m[1], m[2], attrs))
            elif m := _NODE.match(line):
                if m[1] in ("node", "edge"):
                    continue
                self.nodes[m[1]] = _attrs(m[2])
                if cluster:
                    self.clusters[cluster]["nodes"].append(m[1])
            elif cluster and "label=" in line and not self.clusters[cluster]["attrs"]:
                self.clusters[cluster]["attrs"] = _attrs(line)

    @property
    def flows(self) -> list[tuple[str, str, dict[str, str]]]:
        return [(b, a, attrs) if attrs.get("dir") == "back" else (a, b, attrs) for a, b, attrs in self.edges]

    def flows_between(self, a: str, b: str) -> list[dict[str, str]]:
        return [attrs for src, dst, attrs in self.flows if (src, dst) == (a, b)]

    def flow(self, a: str, b: str) -> dict[str, str]:
        found = self.flows_between(a, b)
        assert len(found) == 1, f"expected one edge {a} -> {b}, found {len(found)}"
        return found[0]

    def edges_written(self, a: str, b: str) -> dict[str, str]:
        """The one visible edge written `a -> b`."""
        found = [attrs for src, dst, attrs in self.edges if (src, dst) == (a, b)]
        assert len(found) == 1, f"expected one edge written {a} -> {b}, found {len(found)}"
        return found[0]

    def spine(self) -> list[tuple[str, str]]:
        """Invisible edges between rows (the ones that stack the blocks)."""
        return [(a, b) for a, b in self.invisible if a.split("_")[0] != b.split("_")[0]]

    def touching(self, node: str) -> list[tuple[str, str]]:
        """Visible edges with `node` at either end."""
        return [(a, b) for a, b, _ in self.edges if node in (a, b)]

    def striped(self) -> set[str]:
        return {n for n, attrs in self.nodes.items() if "striped" in attrs.get("style", "")}


def block(dense_ops: list[str], ddim: int, sparse_ops: list[str], sdim: int, /, **inputs: Any) -> dict[str, Any]:
    """One block of a genotype dict; `inputs` may also name the mergers."""
    mergers = {k: inputs.pop(k) for k in ("dense_to_sparse", "sparse_to_dense") if k in inputs}
    return {
        "dense": {"ops": dense_ops, "dim": ddim},
        "sparse": {"ops": sparse_ops, "dim": sdim},
        "inputs": inputs,
        **mergers,
    }


def known() -> Genotype:
    """Block 1: FC + EFC, dense-to-sparse. Block 2: self-gating (left == right == 1), Attention, FM.
    Block 3: Sum (left 0, right 2): reaches nothing, so unused. Block 4: Dot-Product over dense 2 and
    sparse 1, 2 (its left/right are given but not read), EFC over sparse 1, 2."""
    return Genotype.from_dict(
        {
            "schema_version": 1,
            "space": "nasrec-full",
            "blocks": [
                block(["fc"], 32, ["efc"], 16, dense=[0], sparse=[0], dense_to_sparse=True),
                block(["gating"], 64, ["attention"], 16, sparse=[1, 0], left=1, right=1, sparse_to_dense=True),
                block(["sum"], 16, ["efc"], 32, sparse=[2], left=0, right=2),
                block(["dot"], 32, ["efc"], 48, dense=[2], sparse=[2, 1], left=3, right=0),
            ],
            "meta": {"name": "hand-made"},
        }
    )


class Layout:
    """Where graphviz put a drawing's parts (its `-Tjson` output, points): each node's box, and each labelled
    edge's label (text, box, the operator it feeds) and arrow tip."""

    def __init__(self, layout: str) -> None:
        doc = json.loads(layout)
        names = [o["name"] for o in doc["objects"]]
        self.boxes: dict[str, tuple[float, float, float, float]] = {}
        for o in doc["objects"]:
            if "width" in o:  # a node: its centre and size (inches)
                x, y = map(float, o["pos"].split(","))
                w, h = float(o["width"]) * 36, float(o["height"]) * 36
                self.boxes[o["name"]] = (x - w, y - h, x + w, y + h)
        self.labels: list[Label] = []
        for e in doc.get("edges", []):
            for key, draw in (("headlabel", "_hldraw_"), ("taillabel", "_tldraw_"), ("xlabel", "_ldraw_")):
                if key in e:
                    text = next(op for op in e[draw] if op["op"] == "T")
                    (x, y), w = text["pt"], text["width"] - 2  # graphviz pads the width it estimates
                    fed = names[e["tail"] if e.get("dir") == "back" else e["head"]]
                    tip = next(op for op in e["_hdraw_" if e.get("dir") != "back" else "_tdraw_"] if op["op"] == "P")
                    tips = tip["points"]
                    at = max(tips, key=lambda p: min(math.dist(p, q) for q in tips if q != p))  # the apex
                    self.labels.append(Label(e[key], (x - w / 2, y, x + w / 2, y + 7.5), fed, (at[0], at[1])))

    def nearest(self, box: tuple[float, float, float, float], among: list[str]) -> str:
        """Of the nodes `among`, the one whose box is nearest `box`'s centre."""
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2

        def gap(name: str) -> float:
            x0, y0, x1, y1 = self.boxes[name]
            return math.hypot(max(x0 - cx, 0, cx - x1), max(y0 - cy, 0, cy - y1))

        return min(among, key=gap)


class Label(NamedTuple):
    text: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 of the glyphs (baseline to cap height)
    feeds: str  # the node at the arrow's end
    tip: tuple[float, float]  # the arrow's tip
