"""Draw a genotype like the NASRec paper's figures, with graphviz.

Layout is bottom-to-top: raw inputs at the bottom, one cluster per choice block, the head at the top.
Dense parts are blue, sparse parts red (sparse edges also dashed, so the two read apart in grey-scale).
Edges go from each source an operator reads to that operator's branch node; the left / right inputs of
binary operators are labelled `L` / `R`, and drawn as one bold `L=R` edge when both are the same node.
Blocks that do not reach the head are drawn "hatched": a grey, vertically striped cluster with a dashed
border, greyed nodes and edges, and "(unused)" in its title. Dead parts of a live block (a branch or a
merger whose output nothing reads, `Genotype.liveness`) are greyed the same way, with "(unused)" in their
label. Mergers are small violet marker nodes: `dense→sparse` (dense output → 8 tokens appended to the
sparse output) and `FM sparse→dense`.

The DOT text depends only on the canonical genotype, its space, digest and `meta.name`: same genotype,
same text. Node ids: `in_dense`, `in_sparse`, `b<k>_dense`, `b<k>_sparse`, `b<k>_d2s`, `b<k>_s2d`, `head`.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import graphviz

from nasrec.errors import UsageError
from nasrec.genotype.errors import GenotypeError
from nasrec.genotype.liveness import BlockLiveness
from nasrec.genotype.operators import get_signature
from nasrec.genotype.schema import Block, Genotype
from nasrec.state import atomic_write_bytes

FORMATS = ("svg", "png", "pdf", "dot")
PNG_DPI = 110
MAX_BLOCKS = 16
"""`render` draws at most this many blocks: graphviz's layout of more takes minutes (of 16, about a second)."""

BLUE, BLUE_FILL = "#1f5fbf", "#dbe8fb"
RED, RED_FILL = "#c0262d", "#fbdcdc"
VIOLET, VIOLET_FILL = "#6a3d9a", "#ece2f4"
GREY, GREY_FILL = "#8c8c8c", "#eeeeee"
HATCH = ":".join(["#e0e0e0", "#fafafa"] * 12)  # vertical stripes: graphviz's stand-in for a hatch fill
FONT = "Helvetica"


MERGER_MARKERS = (("dense_to_sparse", "d2s", "dense→sparse"), ("sparse_to_dense", "s2d", "FM sparse→dense"))


def op_label(op: str) -> str:
    """Display label of an operator, as its signature declares it (the paper's names for the built-ins)."""
    return get_signature(op).label


def to_dot(genotype: Genotype) -> str:
    """DOT source of the genotype's diagram (deterministic: see the module docstring)."""
    canon = genotype.canonical()
    live = genotype.liveness()
    last = len(canon.blocks)
    g = graphviz.Digraph(
        name="nasrec",
        node_attr={"fontname": FONT, "fontsize": "11"},
        edge_attr={"fontname": FONT, "fontsize": "9", "arrowsize": "0.6"},
    )
    g.attr(
        rankdir="BT",
        remincross="false",
        nodesep="0.3",
        ranksep="0.45",
        fontname=FONT,
        labelloc="t",
        fontsize="12",
        label=_title(genotype),
    )

    with g.subgraph(name="cluster_inputs") as c:
        c.attr(label="Raw inputs", style="rounded", color=GREY, fontcolor=GREY, fontsize="10")
        with c.subgraph() as row:
            row.attr(rank="same")
            row.node("in_dense", "Dense features", group="dense", **_box(BLUE, BLUE_FILL))
            row.node("in_sparse", "Sparse embeddings", group="sparse", **_box(RED, RED_FILL))
            row.edge("in_dense", "in_sparse", style="invis")

    for k, (block, lv) in enumerate(zip(canon.blocks, live, strict=True), start=1):
        _block(g, k, block, lv)

    g.node("head", _lines(["Head", "Linear → logit"]), shape="box", style="rounded,filled,bold", fillcolor="white")
    g.edge(f"b{last}_dense", "head", minlen="2", **_edge("dense", True))
    g.edge(f"b{last}_sparse", "head", minlen="2", **_edge("sparse", True))

    for k, (block, lv) in enumerate(zip(canon.blocks, live, strict=True), start=1):
        _block_edges(g, k, block, lv)
    # Invisible spine: stack the blocks in order, dense column left of the sparse column, like the paper.
    for kind in ("dense", "sparse"):
        spine = [f"in_{kind}"] + [f"b{k}_{kind}" for k in range(1, last + 1)]
        for a, b in itertools.pairwise(spine):
            g.edge(a, b, style="invis", weight="20", minlen="1" if a.startswith("in_") else "2")
    return g.source


def _title(genotype: Genotype) -> str:
    """Graph label: name (meta.name, if any), space and digest, then the colour key."""
    name = genotype.meta.get("name")
    lines = [str(name)] if name else []
    lines.append(f"space {genotype.space or '(none)'} · digest {genotype.digest()}")
    lines.append(
        "blue: dense · red, dashed: sparse · L / R: binary operator inputs · bold L=R: same source"
        " · grey: unused (striped: a whole block)"
    )
    return _lines(lines)


def _lines(lines: list[str]) -> str:
    """A multi-line DOT label from plain text lines (backslashes in the text are escaped)."""
    return "\\n".join(graphviz.escape(line) for line in lines)


def _box(color: str, fill: str, **extra: str) -> dict[str, str]:
    return {"shape": "box", "style": "rounded,filled", "color": color, "fillcolor": fill, **extra}


def _block(g: graphviz.Digraph, k: int, block: Block, lv: BlockLiveness) -> None:
    """Cluster `cluster_b<k>`: the dense and sparse branch nodes and the merger markers."""
    with g.subgraph(name=f"cluster_b{k}") as c:
        if lv.live:
            c.attr(label=f"Block {k}", labelloc="b", style="rounded", color="black", fontcolor="black", fontsize="11")
        else:
            c.attr(
                label=f"Block {k} (unused)",
                labelloc="b",
                style="dashed,striped",
                fillcolor=HATCH,
                color=GREY,
                fontcolor=GREY,
                fontsize="11",
            )
        with c.subgraph() as row:  # dense left of sparse, on one rank
            row.attr(rank="same")
            for branch, (color, fill) in (("dense", (BLUE, BLUE_FILL)), ("sparse", (RED, RED_FILL))):
                choice, used = getattr(block, branch), getattr(lv, f"{branch}_ops")
                style = _box(color, fill) if used else _box(GREY, GREY_FILL, fontcolor=GREY)
                label = _branch_label(choice.ops, choice.dim, unused=lv.live and not used)
                row.node(f"b{k}_{branch}", label, group=branch, **style)
            row.edge(f"b{k}_dense", f"b{k}_sparse", style="invis")
        for merger, node, label in MERGER_MARKERS:
            if getattr(block, merger):
                used = getattr(lv, merger)
                c.node(
                    f"b{k}_{node}",
                    label if used or not lv.live else f"{label} (unused)",
                    shape="box",
                    style="rounded,filled",
                    fontsize="9",
                    height="0.25",
                    margin="0.05,0.02",
                    color=VIOLET if used else GREY,
                    fillcolor=VIOLET_FILL if used else GREY_FILL,
                    **({} if used else {"fontcolor": GREY}),
                )


def _branch_label(ops: tuple[str, ...], dim: int, unused: bool = False) -> str:
    names = [op_label(op) for op in ops]
    return _lines([f"{n} +" for n in names[:-1]] + [names[-1], f"dim {dim}"] + (["(unused)"] if unused else []))


def _block_edges(g: graphviz.Digraph, k: int, block: Block, lv: BlockLiveness) -> None:
    """Source edges into block k's branch nodes (in a fixed order), then its merger edges."""
    ins = block.inputs
    for branch in ("dense", "sparse"):
        target, used = f"b{k}_{branch}", getattr(lv, f"{branch}_ops")
        reads: set[str] = set()
        for op in getattr(block, branch).ops:
            reads |= get_signature(op).reads
        for kind in ("dense", "sparse"):
            if kind in reads:
                for src in getattr(ins, kind) or ():
                    g.edge(_out(src, kind), target, **_edge(kind, used))
        if "pair" in reads:
            left, right = ins.left, ins.right
            assert left is not None and right is not None  # guaranteed by Block validation
            if left == right:
                g.edge(_out(left, "dense"), target, label="L=R", **_edge("dense", used, penwidth="2.6"))
            else:
                g.edge(_out(left, "dense"), target, label="L", **_edge("dense", used))
                g.edge(_out(right, "dense"), target, label="R", **_edge("dense", used))
    if block.dense_to_sparse:
        merge = {"color": VIOLET if lv.dense_to_sparse else GREY, "arrowsize": "0.5"}
        g.edge(f"b{k}_dense", f"b{k}_d2s", **merge)
        g.edge(f"b{k}_d2s", f"b{k}_sparse", constraint="false", **merge)
    if block.sparse_to_dense:
        merge = {"color": VIOLET if lv.sparse_to_dense else GREY, "arrowsize": "0.5"}
        g.edge(f"b{k}_sparse", f"b{k}_s2d", **merge)
        g.edge(f"b{k}_s2d", f"b{k}_dense", constraint="false", **merge)


def _out(node: int, kind: str) -> str:
    """Node id of a source's dense or sparse output (node 0 is the raw input)."""
    return f"in_{kind}" if node == 0 else f"b{node}_{kind}"


def _edge(kind: str, used: bool, **extra: str) -> dict[str, str]:
    color = (BLUE if kind == "dense" else RED) if used else GREY
    style = "solid" if kind == "dense" else "dashed"
    return {"color": color, "fontcolor": color, "style": style, **extra}


def render_format(path: str | Path, format: str | None = None) -> str:
    """The format `render` writes to `path`: its suffix's (svg, png, pdf, dot), else `format`, else svg.

    Raises `UsageError` for an unknown format or suffix, or a suffix naming another format than `format`."""
    suffix = Path(path).suffix.lstrip(".").lower()
    if format is not None and format.lower() not in FORMATS:
        raise UsageError(f"unknown render format {format!r} (known: {', '.join(FORMATS)})")
    if suffix and suffix not in FORMATS and format is None:
        raise UsageError(f"{path}: unknown render format {suffix!r} from the suffix (known: {', '.join(FORMATS)})")
    if format is not None and suffix in FORMATS and suffix != format.lower():
        raise UsageError(f"{path}: the suffix says {suffix}, the format asked for is {format.lower()}")
    return (format or suffix or "svg").lower()


def render(genotype: Genotype, path: str | Path, format: str | None = None) -> Path:
    """Draw `genotype` to `path` as svg, png, pdf or dot (see `render_format`); nothing is written on error.

    Raises `UsageError` for a bad format (see `render_format`), a missing `dot` or a path that cannot be
    written, `GenotypeError` for more than `MAX_BLOCKS` blocks, `RuntimeError` when `dot` fails.
    """
    path = Path(path)
    fmt = render_format(path, format)
    if genotype.num_blocks > MAX_BLOCKS:
        raise GenotypeError(
            f"{genotype.num_blocks} blocks; render draws at most {MAX_BLOCKS} (graphviz's layout "
            f"of more takes minutes)",
            "blocks",
        )
    source = to_dot(genotype)
    data = source.encode() if fmt == "dot" else _run_dot(source, fmt)
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise UsageError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return path


def _run_dot(source: str, fmt: str) -> bytes:
    exe = shutil.which("dot")
    if exe is None:
        raise UsageError(
            "graphviz's `dot` executable was not found on PATH: install graphviz "
            "(e.g. `apt-get install graphviz`), or render with format='dot'"
        )
    args = [exe, f"-T{fmt}"] + ([f"-Gdpi={PNG_DPI}"] if fmt == "png" else [])
    try:
        proc = subprocess.run(args, input=source.encode(), capture_output=True, check=False)
    except OSError as exc:
        raise RuntimeError(f"cannot run graphviz's `dot` ({exe}): {exc.strerror or exc}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"graphviz `dot -T{fmt}` failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout
