"""Draw a genotype like the NASRec paper's figures, with graphviz.

Layout is bottom-to-top, like the paper: the raw inputs at the bottom, one cluster per choice block stacked
upwards (block 1 lowest), the head at the top; every connection runs upwards. A block is one row (`ROW`).
Dense parts are blue, sparse parts red (sparse edges also dashed, so the two read apart in grey-scale).
Boxes say what their number is: `FC · 512` (dense output dim), `EFC · 16 tokens` (sparse output tokens).

The raw inputs feed the blocks through two rails, a blue one on the left (dense features) and a red one on
the right (sparse embeddings): a vertical line from the input up to the highest block that reads it, with a
tap (`b<k>_rail_dense`, `b<k>_rail_sparse`) in each block row it passes and a short edge from the tap to each
operator of that row that reads the input. Edges from block outputs go straight to the operators that read
them; the `left` / `right` inputs of binary operators are labelled `L` / `R` at the arrowhead (`PAIR_LABEL`),
one bold `L=R` edge when the same node is both.

Dead parts (`Genotype.liveness`: an operator or merger whose output reaches nothing) are drawn as the paper
draws them: striped in their branch's colour (blue dense, red sparse, violet merger) with a dashed border,
and no edge runs into them, so they carry no clutter; a block with no live part has a dashed frame and
"(unused)" in its title. `hide_unused=True` leaves them out entirely. Mergers are small violet boxes in the
row between the two operators: `dense→sparse` (the dense output as 8 more tokens) and `FM sparse→dense`.

The DOT text depends only on the canonical genotype, its space, digest, `meta.name` and `hide_unused`:
same genotype, same text, byte for byte. Node ids: `in_dense`, `in_sparse`, `b<k>_dense`, `b<k>_sparse`,
`b<k>_d2s`, `b<k>_s2d`, the rail taps above, `head`.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from pathlib import Path

import graphviz

from nasrec.errors import UsageError
from nasrec.genotype.errors import GenotypeError
from nasrec.genotype.liveness import BlockLiveness, branch_reads
from nasrec.genotype.operators import get_signature
from nasrec.genotype.schema import Block, Genotype
from nasrec.state import atomic_write_bytes

FORMATS = ("svg", "png", "pdf", "dot")
PNG_DPI = 110
MAX_BLOCKS = 16
"""`render` lays out at most this many blocks (svg, png, pdf): graphviz's layout of more takes minutes (of 16,
about a second). The DOT source needs no layout and has no such limit."""

BLUE, BLUE_FILL = "#1f5fbf", "#dbe8fb"
RED, RED_FILL = "#c0262d", "#fbdcdc"
VIOLET, VIOLET_FILL = "#6a3d9a", "#ece2f4"
GREY = "#8c8c8c"
FONT = "Helvetica"
COLORS = {"dense": (BLUE, BLUE_FILL), "sparse": (RED, RED_FILL), "merger": (VIOLET, VIOLET_FILL)}
KINDS = ("dense", "sparse")

BLOCK_MARGIN = "20"
"""Points between a block's frame and its boxes (graphviz's default: 8): room below them for `L`, `R`, `L=R`."""
PAIR_LABEL = {"labeldistance": "1.5", "labelangle": "57"}
"""Where an `L`, `R` or `L=R` label sits, as a head label (graphviz's distance and angle from the arrowhead):
beside the arrow's end. `PAIR_LABEL_IN_ROW`: one from the rail tap in the operator's row, above its arrow between
the rail and the box (`minlen`: twice the usual gap there, room for it)."""
PAIR_LABEL_IN_ROW = {"labeldistance": "2", "labelangle": "40", "minlen": "2"}

MERGER_MARKERS = (("dense_to_sparse", "d2s", "dense→sparse"), ("sparse_to_dense", "s2d", "FM sparse→dense"))


def op_label(op: str) -> str:
    """Display label of an operator, as its signature declares it (the paper's names for the built-ins)."""
    return get_signature(op).label


def stripes(fill: str, n: int = 6) -> str:
    """The `fillcolor` of a dead part: `n` vertical stripes of `fill` on white (graphviz's `striped` style)."""
    return ":".join([fill, "white"] * n)


def to_dot(genotype: Genotype, hide_unused: bool = False) -> str:
    """DOT source of the genotype's diagram (deterministic: see the module docstring); `hide_unused` leaves
    dead operators, mergers and blocks out."""
    canon = genotype.canonical()
    live = genotype.liveness()
    blocks = [
        (k, block, lv)
        for k, (block, lv) in enumerate(zip(canon.blocks, live, strict=True), start=1)
        if lv.live or not hide_unused
    ]
    rails = {kind: _rail_top(canon.blocks, live, kind) for kind in KINDS}
    g = graphviz.Digraph(
        name="nasrec",
        node_attr={"fontname": FONT, "fontsize": "12"},
        edge_attr={"fontname": FONT, "fontsize": "10", "arrowsize": "0.6"},
    )
    g.attr(
        rankdir="BT",
        remincross="false",
        nodesep="0.25",
        ranksep="0.8",
        fontname=FONT,
        labelloc="t",
        fontsize="12",
    )
    g.attr(label=_title(genotype, hide_unused))

    with g.subgraph(name="cluster_inputs") as c:
        c.attr(label="Raw inputs", labelloc="b", style="rounded", color=GREY, fontcolor=GREY, fontsize="11")
        with c.subgraph() as row:
            row.attr(rank="same")
            row.node("in_dense", "Dense features", group="rail_dense", **_box("dense"))
            row.node("in_sparse", "Sparse embeddings", group="rail_sparse", **_box("sparse"))
            row.edge("in_dense", "in_sparse", style="invis")

    for k, block, lv in blocks:
        _block(g, k, block, lv, rails, hide_unused)
    for k, block, lv in blocks:
        _block_edges(g, k, block, lv)
    _rails(g, [k for k, _, _ in blocks], rails)
    _spine(g, blocks, hide_unused)
    g.node("head", _lines(["Head", "Linear → logit"]), shape="box", style="rounded,filled,bold", fillcolor="white")
    for kind in KINDS:
        g.edge(f"b{len(canon.blocks)}_{kind}", "head", **_edge(kind))
    return g.source


def _rail_top(blocks: tuple[Block, ...], live: tuple[BlockLiveness, ...], kind: str) -> int:
    """The highest block with a live operator that reads the raw `kind` input (0: none)."""
    top = 0
    for k, (block, lv) in enumerate(zip(blocks, live, strict=True), start=1):
        for branch in KINDS:
            if getattr(lv, f"{branch}_ops") and 0 in _reads_from(block, branch, kind):
                top = k
    return top


def _reads_from(block: Block, branch: str, kind: str) -> list[int]:
    """Sources whose `kind` output the operators of `branch` read (pair inputs count as dense)."""
    reads, ins = branch_reads(block, branch), block.inputs
    out = list(getattr(ins, kind) or ()) if kind in reads else []
    if kind == "dense" and "pair" in reads:
        out += [ins.left, ins.right]
    return out


def drawn_digest(svg: str) -> str | None:
    """The genotype digest in the title of a diagram this module drew as SVG (`_title`'s `space S · digest D`
    line), or None."""
    m = re.search(r">space [^<]*? digest ([0-9a-f]+)</text>", svg)
    return m[1] if m is not None else None


def _title(genotype: Genotype, hide_unused: bool = False) -> str:
    """Graph label: name (meta.name, if any), space and digest, then the colour key (no "striped: unused" when
    unused parts are hidden)."""
    name = genotype.meta.get("name")
    lines = [str(name)] if name else []
    lines.append(f"space {genotype.space or '(none)'} · digest {genotype.digest()}")
    lines.append("blue: dense · red, dashed: sparse · violet: mergers" + ("" if hide_unused else " · striped: unused"))
    lines.append("L / R: inputs of Sigmoid-Gating, Sum · bold L=R: same source")
    return _lines(lines)


def _lines(lines: list[str]) -> str:
    """A multi-line DOT label from plain text lines (backslashes in the text are escaped)."""
    return "\\n".join(graphviz.escape(line) for line in lines)


def _box(kind: str, used: bool = True, **extra: str) -> dict[str, str]:
    """Node attributes of a live (filled) or dead (striped, dashed) part of `kind`: dense, sparse or merger."""
    color, fill = COLORS[kind]
    if used:
        return {"shape": "box", "style": "rounded,filled", "color": color, "fillcolor": fill, **extra}
    fill = stripes(fill, 3 if kind == "merger" else 6)
    return {"shape": "box", "style": "striped,dashed", "color": color, "fillcolor": fill, **extra}


def _edge(kind: str, **extra: str) -> dict[str, str]:
    color = BLUE if kind == "dense" else RED
    return {"color": color, "fontcolor": color, "style": "solid" if kind == "dense" else "dashed", **extra}


def _branch_label(block: Block, branch: str) -> str:
    """`FC · 512` for a dense branch, `EFC · 16 tokens` for a sparse one; several operators one per line."""
    choice = getattr(block, branch)
    names = [op_label(op) for op in choice.ops]
    size = f"{choice.dim}" if branch == "dense" else f"{choice.dim} tokens"
    return _lines([f"{n} +" for n in names[:-1]] + [f"{names[-1]} · {size}"])


ROW = ("rail_dense", "dense", "d2s", "s2d", "sparse", "rail_sparse")
"""A block's row, left to right: the dense rail tap, the dense operators, the mergers, the sparse operators,
the sparse rail tap."""


def _block(g: graphviz.Digraph, k: int, block: Block, lv: BlockLiveness, rails: dict[str, int], hide: bool) -> None:
    """Cluster `cluster_b<k>`: one row of its rail taps, branch nodes and merger markers (see `ROW`)."""
    with g.subgraph(name=f"cluster_b{k}") as c:
        title = f"Block {k}" if lv.live else f"Block {k} (unused)"
        style = {"style": "rounded", "color": "black"} if lv.live else {"style": "dashed", "color": GREY}
        c.attr(label=title, labelloc="b", fontcolor=style["color"], fontsize="11", margin=BLOCK_MARGIN, **style)
        with c.subgraph() as row:
            row.attr(rank="same")
            for kind in KINDS:
                if k <= rails[kind]:
                    feeds = any(0 in _reads_from(block, b, kind) and getattr(lv, f"{b}_ops") for b in KINDS)
                    size = "0.07" if feeds else "0.01"
                    color = BLUE if kind == "dense" else RED
                    row.node(f"b{k}_rail_{kind}", "", shape="point", width=size, color=color, group=f"rail_{kind}")
            for branch in KINDS:
                used = getattr(lv, f"{branch}_ops")
                if used or not hide:
                    row.node(f"b{k}_{branch}", _branch_label(block, branch), group=branch, **_box(branch, used))
            for merger, node, label in MERGER_MARKERS:
                used = getattr(lv, merger)
                if getattr(block, merger) and (used or not hide):
                    marker = _box("merger", used, fontsize="9", height="0.3", margin="0.05,0.02")
                    row.node(f"b{k}_{node}", label, **marker)
            visible = _flat_edges(k, block, lv)
            for a, b in itertools.pairwise(_row(k, block, lv, rails, hide)):
                if (a, b) not in visible:  # a visible flat edge already orders them
                    row.edge(a, b, style="invis")


def _row(k: int, block: Block, lv: BlockLiveness, rails: dict[str, int], hide: bool) -> list[str]:
    """Node ids of block k's row as drawn, left to right."""
    out = [f"b{k}_rail_dense"] if k <= rails["dense"] else []
    for part, branch in (("dense", "dense_ops"), ("sparse", "sparse_ops")):
        if part == "sparse":
            for merger, node, _ in MERGER_MARKERS:
                if getattr(block, merger) and (getattr(lv, merger) or not hide):
                    out.append(f"b{k}_{node}")
        if getattr(lv, branch) or not hide:
            out.append(f"b{k}_{part}")
    return out + ([f"b{k}_rail_sparse"] if k <= rails["sparse"] else [])


def _flat_edges(k: int, block: Block, lv: BlockLiveness) -> set[tuple[str, str]]:
    """The visible edges within block k's row, as written (left to right, see `_flow`)."""
    flows = []
    if lv.dense_ops and 0 in _reads_from(block, "dense", "dense"):
        flows.append(("rail_dense", "dense"))
    flows += [("rail_sparse", b) for b in KINDS if getattr(lv, f"{b}_ops") and 0 in _reads_from(block, b, "sparse")]
    if lv.dense_to_sparse:
        flows += [("dense", "d2s"), ("d2s", "sparse")]
    if lv.sparse_to_dense:
        flows += [("sparse", "s2d"), ("s2d", "dense")]
    return {tuple(sorted((f"b{k}_{a}", f"b{k}_{b}"), key=_row_pos)) for a, b in flows}  # type: ignore[misc]


def _row_pos(node: str) -> int:
    return ROW.index(node.split("_", 1)[1])


def _block_edges(g: graphviz.Digraph, k: int, block: Block, lv: BlockLiveness) -> None:
    """Edges into block k's live operators (in a fixed order), then its live merger edges."""
    ins = block.inputs
    for branch in KINDS:
        if not getattr(lv, f"{branch}_ops"):
            continue  # a dead operator: no edge runs into it
        target, reads = f"b{k}_{branch}", branch_reads(block, branch)
        for kind in KINDS:
            if kind in reads:
                for src in getattr(ins, kind) or ():
                    _flow(g, _out(src, kind, k), target, **_edge(kind))
        if "pair" in reads:
            left, right = ins.left, ins.right
            assert left is not None and right is not None  # guaranteed by Block validation
            if left == right:  # from below, into the middle of the box's bottom: upwards, its label clears the box
                port = {"headport": "s"} if left != 0 else {}
                _flow(g, _out(left, "dense", k), target, "L=R", **_edge("dense", penwidth="2.6", **port))
            else:
                _flow(g, _out(left, "dense", k), target, "L", **_edge("dense"))
                _flow(g, _out(right, "dense", k), target, "R", **_edge("dense"))
    for merger, node, _ in MERGER_MARKERS:
        if getattr(block, merger) and getattr(lv, merger):  # a dead merger: no edge at all
            src, dst = ("dense", "sparse") if node == "d2s" else ("sparse", "dense")
            merge = {"color": VIOLET, "arrowsize": "0.5"}
            _flow(g, f"b{k}_{src}", f"b{k}_{node}", **merge)
            _flow(g, f"b{k}_{node}", f"b{k}_{dst}", **merge)


def _flow(g: graphviz.Digraph, src: str, dst: str, label: str | None = None, **attrs: str) -> None:
    """An edge for data flowing from `src` to `dst`, its label at the arrowhead, by `dst` (`PAIR_LABEL`: the
    operator input it names). Within a row graphviz keeps flat edges left to right, so a flow leftwards (from the
    sparse rail tap, through the FM merger) is written `dst -> src` with `dir=back`, its label a `taillabel`."""
    same_row = src.split("_")[0] == dst.split("_")[0] and not src.startswith("in")
    back = same_row and _row_pos(src) > _row_pos(dst)
    if label:
        place = PAIR_LABEL_IN_ROW if same_row else PAIR_LABEL
        attrs = {"taillabel" if back else "headlabel": label, **place, **attrs}
    if back:
        g.edge(dst, src, dir="back", **attrs)
    else:
        g.edge(src, dst, **attrs)


def _out(node: int, kind: str, k: int) -> str:
    """Node id of a source's dense or sparse output as block k reads it (node 0: the rail tap in k's row)."""
    return f"b{k}_rail_{kind}" if node == 0 else f"b{node}_{kind}"


def _rails(g: graphviz.Digraph, drawn: list[int], rails: dict[str, int]) -> None:
    """Each rail: a line from its raw input up through the taps of the drawn blocks it passes."""
    for kind in KINDS:
        taps = [f"in_{kind}"] + [f"b{k}_rail_{kind}" for k in drawn if k <= rails[kind]]
        for a, b in itertools.pairwise(taps):
            g.edge(a, b, arrowhead="none", weight="100", **_edge(kind, penwidth="2"))


def _spine(g: graphviz.Digraph, blocks: list[tuple[int, Block, BlockLiveness]], hide: bool) -> None:
    """Invisible edges that stack the drawn blocks upwards in order, one rank each."""
    prev = "in_dense"
    for k, _, lv in blocks:
        first = f"b{k}_dense" if lv.dense_ops or not hide else f"b{k}_sparse"
        g.edge(prev, first, style="invis", weight="5")
        prev = first


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


def render(genotype: Genotype, path: str | Path, format: str | None = None, hide_unused: bool = False) -> Path:
    """Draw `genotype` to `path` (as named: no suffix is added) as svg, png, pdf or dot (see `render_format`;
    `hide_unused`: see `to_dot`); nothing is written on error.

    Raises `UsageError` for a bad format (see `render_format`), a missing `dot` or a path that cannot be
    written, `GenotypeError` for more than `MAX_BLOCKS` blocks in svg, png or pdf, `RuntimeError` when `dot`
    fails.
    """
    path = Path(path)
    fmt = render_format(path, format)
    data = drawing(genotype, fmt, hide_unused)
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise UsageError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return path


def drawing(genotype: Genotype, format: str = "svg", hide_unused: bool = False) -> bytes:
    """The diagram's bytes in `format` (svg, png, pdf or dot); errors as `render`'s."""
    if format not in FORMATS:
        raise UsageError(f"unknown render format {format!r} (known: {', '.join(FORMATS)})")
    if format != "dot" and genotype.num_blocks > MAX_BLOCKS:  # DOT text needs no layout
        raise GenotypeError(
            f"{genotype.num_blocks} blocks; render draws at most {MAX_BLOCKS} (graphviz's layout "
            f"of more takes minutes)",
            "blocks",
        )
    source = to_dot(genotype, hide_unused=hide_unused)
    return source.encode() if format == "dot" else _run_dot(source, format)


def _run_dot(source: str, fmt: str) -> bytes:
    exe = shutil.which("dot")
    if exe is None:
        raise UsageError(
            "graphviz's `dot` executable was not found on PATH: install graphviz "
            "(e.g. `apt-get install graphviz`), or ask for the DOT source (`--format dot`; format='dot' in Python)"
        )
    args = [exe, f"-T{fmt}"] + ([f"-Gdpi={PNG_DPI}"] if fmt == "png" else [])
    try:
        proc = subprocess.run(args, input=source.encode(), capture_output=True, check=False)
    except OSError as exc:
        raise RuntimeError(f"cannot run graphviz's `dot` ({exe}): {exc.strerror or exc}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"graphviz `dot -T{fmt}` failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout
