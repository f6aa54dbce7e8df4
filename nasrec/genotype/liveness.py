"""Liveness: which parts of each block reach the head, and the live form that `active_digest` hashes.

The parts of block k, and how data flows between them (what the compiler computes, semantics.md):
- `dense_ops`: the sum of the block's dense operators; it feeds the dense output and the dense-to-sparse merger;
- `sparse_ops`: the sum of its sparse operators (the operator tokens); they feed the sparse output and the FM;
- `dense_to_sparse`: the 8 merger tokens made from `dense_ops`, appended to the sparse output;
- `sparse_to_dense`: the FM term over `sparse_ops`, added to the dense output;
- outputs `dense_out` (read by later dense concats, `left`/`right` and the head) and `sparse_out` (operator
  and merger tokens, read by later sparse concats and the head).
A branch's operators read the inputs their signatures name, from the sources the block lists. A part is live
when the head depends on it (an ancestor of "head" in `dataflow`); a block is live when any part is. Dead
parts are legal; the compiler neither builds nor runs them, and genotypes differing only in dead parts share
their live form (`live_form`) and so their `active_digest`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from nasrec.genotype.operators import get_signature

Block = Any
"""A `nasrec.genotype.schema.Block` (not imported: the schema imports this module)."""
HEAD = "head"
PARTS = ("dense_ops", "sparse_ops", "dense_to_sparse", "sparse_to_dense")


@dataclass(frozen=True)
class BlockLiveness:
    """Live parts of one block (`dense_to_sparse` / `sparse_to_dense`: the merger is on and live)."""

    dense_out: bool
    sparse_out: bool
    dense_ops: bool
    sparse_ops: bool
    dense_to_sparse: bool
    sparse_to_dense: bool

    @property
    def live(self) -> bool:
        return self.dense_ops or self.sparse_ops

    def dead_parts(self, block: Block) -> list[str]:
        """Names of the block's dead parts, e.g. `["sparse efc", "dense_to_sparse"]`; all of them when dead."""
        out = [f"dense {'+'.join(block.dense.ops)}"] if not self.dense_ops else []
        out += [f"sparse {'+'.join(block.sparse.ops)}"] if not self.sparse_ops else []
        out += [m for m in ("dense_to_sparse", "sparse_to_dense") if getattr(block, m) and not getattr(self, m)]
        return out


def branch_reads(block: Block, branch: str) -> set[str]:
    """Inputs (`dense`, `sparse`, `pair`) that the operators of one branch read."""
    return set().union(*(get_signature(op).reads for op in getattr(block, branch).ops))


def dataflow(blocks: Sequence[Block]) -> nx.DiGraph:
    """Nodes `(k, part)` for k = 1..N (parts above, `dense_out`, `sparse_out`), `(0, "dense_out")`,
    `(0, "sparse_out")` (the raw input) and "head"; an edge for each flow of data."""
    g = nx.DiGraph()
    g.add_nodes_from([(0, "dense_out"), (0, "sparse_out"), HEAD])
    for k, block in enumerate(blocks, start=1):
        ins = block.inputs
        g.add_edge((k, "dense_ops"), (k, "dense_out"))
        g.add_edge((k, "sparse_ops"), (k, "sparse_out"))
        if block.dense_to_sparse:
            g.add_edge((k, "dense_ops"), (k, "dense_to_sparse"))
            g.add_edge((k, "dense_to_sparse"), (k, "sparse_out"))
        if block.sparse_to_dense:
            g.add_edge((k, "sparse_ops"), (k, "sparse_to_dense"))
            g.add_edge((k, "sparse_to_dense"), (k, "dense_out"))
        for branch in ("dense", "sparse"):
            reads, target = branch_reads(block, branch), (k, f"{branch}_ops")
            sources = [(n, "dense_out") for n in (ins.dense or ())] if "dense" in reads else []
            sources += [(n, "sparse_out") for n in (ins.sparse or ())] if "sparse" in reads else []
            if "pair" in reads:
                sources += [(ins.left, "dense_out"), (ins.right, "dense_out")]
            g.add_edges_from((s, target) for s in sources)
    last = len(blocks)
    g.add_edges_from([((last, "dense_out"), HEAD), ((last, "sparse_out"), HEAD)])
    return g


def liveness(blocks: Sequence[Block]) -> tuple[BlockLiveness, ...]:
    """Per block (in order), which of its parts reach the head."""
    live = nx.ancestors(dataflow(blocks), HEAD)
    return tuple(
        BlockLiveness(**{part: (k, part) in live for part in ("dense_out", "sparse_out", *PARTS)})
        for k in range(1, len(blocks) + 1)
    )


def live_form(blocks: Sequence[Block]) -> list[dict[str, Any] | None]:
    """The live parts of each (canonical) block as JSON, None for a dead block: the operators and dim of a
    live branch, the inputs its operators read, and the merger flags that are live."""
    out: list[dict[str, Any] | None] = []
    for block, lv in zip(blocks, liveness(blocks), strict=True):
        if not lv.live:
            out.append(None)
            continue
        branches = [b for b in ("dense", "sparse") if getattr(lv, f"{b}_ops")]
        reads = set().union(*(branch_reads(block, b) for b in branches))
        ins = block.inputs
        inputs: dict[str, Any] = {f: list(getattr(ins, f) or ()) for f in ("dense", "sparse") if f in reads}
        if "pair" in reads:
            inputs |= {"left": ins.left, "right": ins.right}
        entry: dict[str, Any] = {b: getattr(block, b).to_dict() for b in branches}
        entry |= {"inputs": inputs, "dense_to_sparse": lv.dense_to_sparse, "sparse_to_dense": lv.sparse_to_dense}
        out.append(entry)
    return out
