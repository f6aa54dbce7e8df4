"""Differences between two genotypes, per block and per field, in words."""

from __future__ import annotations

from nasrec.genotype.schema import Block, Genotype

_FIELDS = (
    ("dense ops", lambda b: ", ".join(b.dense.ops)),
    ("dense dim", lambda b: b.dense.dim),
    ("sparse ops", lambda b: ", ".join(b.sparse.ops)),
    ("sparse dim", lambda b: b.sparse.dim),
    ("dense inputs", lambda b: _nodes(b.inputs.dense)),
    ("sparse inputs", lambda b: _nodes(b.inputs.sparse)),
    ("left input", lambda b: _nodes(b.inputs.left)),
    ("right input", lambda b: _nodes(b.inputs.right)),
    ("dense-to-sparse merger", lambda b: "on" if b.dense_to_sparse else "off"),
    ("sparse-to-dense merger", lambda b: "on" if b.sparse_to_dense else "off"),
)


def _nodes(value) -> str:
    if value is None:
        return "unused"
    if isinstance(value, int):
        return str(value)
    return "[" + ", ".join(map(str, value)) + "]"


def diff_blocks(a: Block, b: Block) -> list[str]:
    out = []
    for name, get in _FIELDS:
        x, y = get(a), get(b)
        if x != y:
            out.append(f"{name} {x} -> {y}")
    return out


def diff(a: Genotype, b: Genotype) -> list[str]:
    """Lines like `block 3: dense dim 128 -> 64`, comparing canonical forms; empty when the
    architectures are the same."""
    a, b = a.canonical(), b.canonical()
    lines = []
    if a.space != b.space:
        lines.append(f"space {a.space} -> {b.space}")
    # Block counts may differ (reported below): compare the common prefix.
    for k, (x, y) in enumerate(zip(a.blocks, b.blocks, strict=False), start=1):
        lines.extend(f"block {k}: {change}" for change in diff_blocks(x, y))
    if a.num_blocks != b.num_blocks:
        lines.append(f"number of blocks {a.num_blocks} -> {b.num_blocks}")
    active_a, active_b = a.active_blocks(), b.active_blocks()
    if active_a != active_b:
        lines.append(f"active blocks {active_a} -> {active_b}")
    return lines
