"""Rendering: the DOT text of hand-built genotypes, determinism, real files through `dot`, errors."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nasrec.errors import UsageError
from nasrec.genotype import Genotype, OperatorSignature, load, register_signature, sample
from nasrec.genotype.operators import OPERATORS
from nasrec.genotype.sampling import SAMPLERS
from nasrec.viz.render import BLUE, GREY, RED, VIOLET, op_label, render, to_dot

render_module = importlib.import_module("nasrec.viz.render")  # the module, even if nasrec.viz re-exports `render`

REF_CONFIGS = sorted((Path(__file__).parents[1] / "data" / "nasrec_ref").glob("*.json"))
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")

# -- a tiny DOT reader: enough for the text `to_dot` writes ----------------------------------------
_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s\]]+)')
_NODE = re.compile(r"^\s*(\w+) \[(.*)\]$")
_EDGE = re.compile(r"^\s*(\w+) -> (\w+) \[(.*)\]$")
_CLUSTER = re.compile(r"^\s*subgraph (cluster_\w+) \{$")


def _attrs(text: str) -> dict[str, str]:
    return {k: v[1:-1] if v.startswith('"') else v for k, v in _ATTR.findall(text)}


class Dot:
    """Nodes, visible edges, and each cluster's attributes and nodes, read from DOT text."""

    def __init__(self, text: str) -> None:
        self.nodes: dict[str, dict[str, str]] = {}
        self.edges: list[tuple[str, str, dict[str, str]]] = []
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
                if attrs.get("style") != "invis":
                    self.edges.append((m[1], m[2], attrs))
            elif m := _NODE.match(line):
                if m[1] in ("node", "edge"):
                    continue
                self.nodes[m[1]] = _attrs(m[2])
                if cluster:
                    self.clusters[cluster]["nodes"].append(m[1])
            elif cluster and "label=" in line and not self.clusters[cluster]["attrs"]:
                self.clusters[cluster]["attrs"] = _attrs(line)

    def edges_between(self, a: str, b: str) -> list[dict[str, str]]:
        return [attrs for src, dst, attrs in self.edges if (src, dst) == (a, b)]

    def edge(self, a: str, b: str) -> dict[str, str]:
        found = self.edges_between(a, b)
        assert len(found) == 1, f"expected one edge {a} -> {b}, found {len(found)}"
        return found[0]


def _block(dense_ops: list[str], ddim: int, sparse_ops: list[str], sdim: int, /, **inputs: Any) -> dict[str, Any]:
    mergers = {k: inputs.pop(k) for k in ("dense_to_sparse", "sparse_to_dense") if k in inputs}
    return {
        "dense": {"ops": dense_ops, "dim": ddim},
        "sparse": {"ops": sparse_ops, "dim": sdim},
        "inputs": inputs,
        **mergers,
    }


def _known() -> Genotype:
    """Block 1: FC + EFC, dense-to-sparse. Block 2: self-gating (left == right == 1), Attention, FM.
    Block 3: Sum (left 0, right 2): reaches nothing, so unused. Block 4: Dot-Product over dense 2 and
    sparse 1, 2 (its left/right are given but not read), EFC over sparse 2."""
    return Genotype.from_dict(
        {
            "schema_version": 1,
            "space": "nasrec-full",
            "blocks": [
                _block(["fc"], 32, ["efc"], 16, dense=[0], sparse=[0], dense_to_sparse=True),
                _block(["gating"], 64, ["attention"], 16, sparse=[1, 0], left=1, right=1, sparse_to_dense=True),
                _block(["sum"], 16, ["efc"], 32, sparse=[2], left=0, right=2),
                _block(["dot"], 32, ["efc"], 48, dense=[2], sparse=[2, 1], left=3, right=0),
            ],
            "meta": {"name": "hand-made"},
        }
    )


@pytest.fixture(scope="module")
def known() -> Dot:
    return Dot(to_dot(_known()))


def test_inputs_blocks_head_and_mergers_are_nodes(known: Dot) -> None:
    expected = {"in_dense", "in_sparse", "head", "b1_d2s", "b2_s2d"}
    expected |= {f"b{k}_{kind}" for k in range(1, 5) for kind in ("dense", "sparse")}
    assert set(known.nodes) == expected
    assert set(known.clusters) == {"cluster_inputs"} | {f"cluster_b{k}" for k in range(1, 5)}
    assert set(known.clusters["cluster_b1"]["nodes"]) == {"b1_dense", "b1_sparse", "b1_d2s"}
    assert set(known.clusters["cluster_b2"]["nodes"]) == {"b2_dense", "b2_sparse", "b2_s2d"}
    assert known.nodes["b1_dense"]["label"] == "FC\\ndim 32"
    assert known.nodes["b2_dense"]["label"] == "Sigmoid-Gating\\ndim 64"
    assert known.nodes["b2_sparse"]["label"] == "Attention\\ndim 16"
    assert known.nodes["b4_dense"]["label"] == "Dot-Product\\ndim 32"
    assert known.nodes["b4_sparse"]["label"] == "EFC\\ndim 48"
    assert "FM" in known.nodes["b2_s2d"]["label"]


def test_dense_parts_blue_sparse_parts_red(known: Dot) -> None:
    for k in (1, 2, 4):
        assert known.nodes[f"b{k}_dense"]["color"] == BLUE
        assert known.nodes[f"b{k}_sparse"]["color"] == RED
    assert known.nodes["in_dense"]["color"] == BLUE
    assert known.nodes["in_sparse"]["color"] == RED
    assert known.nodes["b1_d2s"]["color"] == VIOLET


def test_source_edges(known: Dot) -> None:
    dense = {"color": BLUE, "style": "solid"}
    sparse = {"color": RED, "style": "dashed"}
    for a, b, style in [
        ("in_dense", "b1_dense", dense),
        ("in_sparse", "b1_sparse", sparse),
        ("in_sparse", "b2_sparse", sparse),
        ("b1_sparse", "b2_sparse", sparse),
        ("b2_dense", "b4_dense", dense),
        ("b1_sparse", "b4_dense", sparse),
        ("b2_sparse", "b4_dense", sparse),  # Dot-Product reads sparse too
        ("b2_sparse", "b4_sparse", sparse),
        ("b4_dense", "head", dense),
        ("b4_sparse", "head", sparse),
    ]:
        attrs = known.edge(a, b)
        assert {k: attrs[k] for k in style} == style, (a, b)
        assert "label" not in attrs
    # block 4's left/right (3, 0) are read by no operator: no edge from them
    assert not known.edges_between("b3_dense", "b4_dense")
    assert not known.edges_between("in_dense", "b4_dense")


def test_merger_edges(known: Dot) -> None:
    assert known.edge("b1_dense", "b1_d2s")["color"] == VIOLET
    assert known.edge("b1_d2s", "b1_sparse")["constraint"] == "false"
    assert known.edge("b2_sparse", "b2_s2d")["color"] == VIOLET
    assert known.edge("b2_s2d", "b2_dense")["color"] == VIOLET
    assert "b3_d2s" not in known.nodes and "b3_s2d" not in known.nodes


def test_same_source_pair_is_one_bold_edge(known: Dot) -> None:
    attrs = known.edge("b1_dense", "b2_dense")
    assert attrs["label"] == "L=R"
    assert float(attrs["penwidth"]) > 2
    assert attrs["color"] == BLUE


def test_distinct_pair_is_labelled_left_and_right(known: Dot) -> None:
    assert known.edge("in_dense", "b3_dense")["label"] == "L"
    assert known.edge("b2_dense", "b3_dense")["label"] == "R"
    assert "penwidth" not in known.edge("in_dense", "b3_dense")


def test_unused_block_is_hatched_and_greyed(known: Dot) -> None:
    unused = known.clusters["cluster_b3"]["attrs"]
    assert unused["label"] == "Block 3 (unused)"
    assert set(unused["style"].split(",")) == {"dashed", "striped"}
    assert unused["color"] == GREY
    for node in ("b3_dense", "b3_sparse"):
        assert known.nodes[node]["color"] == GREY
    for a, b in [("in_dense", "b3_dense"), ("b2_dense", "b3_dense"), ("b2_sparse", "b3_sparse")]:
        assert known.edge(a, b)["color"] == GREY
    for k in (1, 2, 4):
        attrs = known.clusters[f"cluster_b{k}"]["attrs"]
        assert attrs["label"] == f"Block {k}"
        assert "striped" not in attrs["style"]


def test_unused_parts_of_a_used_block_are_greyed() -> None:
    """Criteo Small (NasRec-ref): no later block reads block 3's tokens, so its EFC and its dense-to-sparse
    merger are unused; its FC is read by blocks 5 and 7."""
    g = load(REF_CONFIGS[[p.name for p in REF_CONFIGS].index("criteo_ea_criteo_kaggle_autoctr_best_1shot.json")])
    dot = Dot(to_dot(g))
    assert dot.clusters["cluster_b3"]["attrs"]["label"] == "Block 3"
    assert dot.nodes["b3_dense"]["color"] == BLUE and dot.nodes["b3_dense"]["label"] == "FC\\ndim 128"
    assert dot.nodes["b3_sparse"]["color"] == GREY and dot.nodes["b3_sparse"]["label"] == "EFC\\ndim 16\\n(unused)"
    assert dot.nodes["b3_d2s"]["color"] == GREY and dot.nodes["b3_d2s"]["label"] == "dense→sparse (unused)"
    assert {a["color"] for a in dot.edges_between("b2_sparse", "b3_sparse")} == {GREY}
    assert dot.edge("b3_dense", "b3_d2s")["color"] == GREY
    assert {a["color"] for a in dot.edges_between("b2_dense", "b3_dense")} == {BLUE}
    assert dot.nodes["b2_d2s"]["color"] == VIOLET


def test_title_names_space_digest_and_name() -> None:
    g = _known()
    text = to_dot(g)
    title = re.search(r'^\tfontname=.* label="((?:[^"\\]|\\.)*)"', text, re.M)
    assert title is not None
    assert title[1].startswith(f"hand-made\\nspace nasrec-full · digest {g.digest()}\\n")
    assert "rankdir=BT" in text


def test_same_genotype_same_text() -> None:
    assert to_dot(_known()) == to_dot(_known())
    assert "0x" not in to_dot(_known())


def test_input_and_operator_order_do_not_change_the_text() -> None:
    a = _known().to_dict()
    b = _known().to_dict()
    b["blocks"][3]["inputs"]["sparse"] = [1, 2, 1]
    b["blocks"][1]["inputs"]["sparse"] = [0, 1]
    a["blocks"][0]["dense"]["ops"], b["blocks"][0]["dense"]["ops"] = ["fc", "dot"], ["dot", "fc"]
    a["blocks"][0]["inputs"]["sparse"] = [0]
    assert to_dot(Genotype.from_dict(a)) == to_dot(Genotype.from_dict(b))


def test_several_operators_in_one_branch() -> None:
    g = Genotype.from_dict(
        {
            "schema_version": 1,
            "blocks": [_block(["fc", "sum"], 16, ["efc", "attention"], 16, dense=[0], sparse=[0], left=0, right=0)],
        }
    )
    dot = Dot(to_dot(g))
    assert dot.nodes["b1_dense"]["label"] == "FC +\\nSum\\ndim 16"
    assert dot.nodes["b1_sparse"]["label"] == "Attention +\\nEFC\\ndim 16"
    assert len(dot.edges_between("in_dense", "b1_dense")) == 2  # FC's concat and Sum's L=R pair


@pytest.fixture
def third_party_op():
    register_signature(OperatorSignature("cross_v2", "dense", frozenset({"dense"})))
    yield "cross_v2"
    OPERATORS.unregister("cross_v2")


def test_third_party_operator_is_labelled_by_its_name(third_party_op: str) -> None:
    g = Genotype.from_dict(
        {"schema_version": 1, "blocks": [_block([third_party_op], 16, ["efc"], 16, dense=[0], sparse=[0])]}
    )
    assert op_label(third_party_op) == third_party_op
    assert Dot(to_dot(g)).nodes["b1_dense"]["label"] == "cross_v2\\ndim 16"


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_edges_match_sources_of_sampled_genotypes(sampler: str) -> None:
    for seed in range(5):
        g = sample("nasrec-full", sampler, rng=seed)
        dot = Dot(to_dot(g))
        unused = set(range(1, g.num_blocks + 1)) - set(g.active_blocks())
        for k, block in enumerate(g.blocks, start=1):
            into = [(src, attrs) for src, dst, attrs in dot.edges if dst in (f"b{k}_dense", f"b{k}_sparse")]
            sources = {
                0 if src.startswith("in_") else int(src[1:].split("_")[0])
                for src, _ in into
                if not src.startswith(f"b{k}_")
            }
            assert sources == block.sources()
            assert ("(unused)" in dot.clusters[f"cluster_b{k}"]["attrs"]["label"]) == (k in unused)


@pytest.mark.parametrize("path", REF_CONFIGS, ids=lambda p: p.stem)
def test_reference_configs_render(path: Path, tmp_path: Path) -> None:
    g = load(path)
    dot = Dot(to_dot(g))
    assert {f"cluster_b{k}" for k in range(1, g.num_blocks + 1)} <= set(dot.clusters)
    unused = {k for k in range(1, g.num_blocks + 1) if "(unused)" in dot.clusters[f"cluster_b{k}"]["attrs"]["label"]}
    assert unused == set(range(1, g.num_blocks + 1)) - set(g.active_blocks())
    if shutil.which("dot"):
        out = render(g, tmp_path / f"{path.stem}.svg")
        assert "<svg" in out.read_text()


# -- files ------------------------------------------------------------------------------------------
@needs_dot
def test_render_svg_png_pdf(tmp_path: Path) -> None:
    g = _known()
    svg = render(g, tmp_path / "g.svg")
    assert svg == tmp_path / "g.svg"
    assert "<svg" in svg.read_text() and "Attention" in svg.read_text()
    assert render(g, tmp_path / "g.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert render(g, tmp_path / "g.pdf").read_bytes().startswith(b"%PDF")
    assert render(g, tmp_path / "out" / "g", format="PNG").read_bytes().startswith(b"\x89PNG")  # folder made


def test_render_dot_needs_no_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_module.shutil, "which", lambda name: None)
    assert render(_known(), tmp_path / "g.dot").read_text() == to_dot(_known())
    assert render(_known(), tmp_path / "g.gv", format="dot").read_text() == to_dot(_known())


def test_suffixless_path_defaults_to_svg(tmp_path: Path) -> None:
    if shutil.which("dot") is None:
        pytest.skip("graphviz `dot` is not installed")
    assert "<svg" in render(_known(), tmp_path / "drawing").read_text()


# -- user errors ------------------------------------------------------------------------------------
def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown render format 'jpeg' \(known: svg, png, pdf, dot\)"):
        render(_known(), tmp_path / "g.svg", format="jpeg")
    with pytest.raises(ValueError, match="'txt'"):
        render(_known(), tmp_path / "g.txt")
    assert not list(tmp_path.iterdir())


def test_unwritable_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(UsageError, match=r"cannot write .*a-file/g\.dot"):
        render(_known(), blocker / "g.dot")


def test_dot_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_module.shutil, "which", lambda name: None)
    with pytest.raises(UsageError, match="graphviz's `dot` executable was not found"):
        render(_known(), tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()


def test_viz_does_not_import_torch() -> None:
    code = "import sys, nasrec.viz.render; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dot_failing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    false = shutil.which("false")
    if false is None:
        pytest.skip("no `false` executable")
    monkeypatch.setattr(render_module.shutil, "which", lambda name: false)
    with pytest.raises(RuntimeError, match=r"graphviz `dot -Tpng` failed"):
        render(_known(), tmp_path / "g.png")
