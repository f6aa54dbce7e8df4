"""What supernet views and standalone models share: the per-genotype plan, the head, the block loop.

`plan(genotype, ctx)` resolves a genotype into its live blocks, each with its live operators' `OpSpec`s
(exact widths and source layout). `run(plan, dense, sparse, call)` computes the logit head's input features;
`call(block, ref, inputs)` runs one operator — a standalone model's module, or the operator's function on
slices of the supernet's parameters for a view. Parameter names are the same in both
(`blocks.b{k}.{key}.{name}`, `head.*`, `embedding.*`), which is what weight inheritance relies on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from nasrec.compiler.base import Operator, OpInputs, ParamDef
from nasrec.compiler.context import MERGER_TOKENS, BuildContext, DenseSource, OpSpec, SparseSource
from nasrec.compiler.operators.mergers import MERGER_OPERATORS
from nasrec.compiler.registry import get_operator
from nasrec.genotype.schema import Genotype


class Head(Operator):
    """Linear(D_last + E * T_last -> 1) over [dense output, flattened tokens] (always with a bias).

    Supernet layout of its columns: the token slots first (T_slot = S_max + 8 tokens of E), then D_max dense
    columns; a view takes D dense columns and E columns per active token, in standalone order."""

    name = "head"

    def params(self, spec: OpSpec) -> dict[str, ParamDef]:
        e, src = spec.emb_dim, spec.sparse[0]
        slot = (src.max_tokens + MERGER_TOKENS) * e
        cols = [slot + d for d in range(spec.dense_width)]
        cols += [p * e + i for p in src.positions() for i in range(e)]
        n = len(cols)
        return {"head_w": ParamDef((1, tuple(cols)), fan_in=n), "head_b": ParamDef((1,), fan_in=n)}

    def forward(self, p: Mapping[str, Tensor], x: OpInputs, spec: OpSpec) -> Tensor:
        assert x.dense is not None  # the head always reads the concatenated dense outputs
        return torch.nn.functional.linear(x.dense, p["head_w"], p["head_b"]).squeeze(-1)

    def spec_for(self, ctx: BuildContext, dim: int, tokens: int, merger: bool, supernet_max: bool = False) -> OpSpec:
        src = SparseSource(ctx.num_blocks, tokens, merger, 0, ctx.max_sparse)
        return OpSpec(
            dim=dim,
            dense=(DenseSource(ctx.num_blocks, dim),),
            sparse=(src,),
            emb_dim=ctx.emb_dim,
            layernorm=ctx.layernorm,
            supernet_max=supernet_max,
        )

    def super_spec(self, ctx: BuildContext, k: int = 0) -> OpSpec:
        return self.spec_for(ctx, ctx.max_dense, ctx.max_sparse, True, supernet_max=True)


HEAD = Head()


@dataclass(frozen=True)
class OpRef:
    key: str  # e.g. "dense_fc", "sparse_efc", "dense_to_sparse"
    op: Operator
    spec: OpSpec


@dataclass(frozen=True)
class BlockPlan:
    k: int
    dense_src: tuple[int, ...]
    sparse_src: tuple[int, ...]
    left: int | None
    right: int | None
    dense_ops: tuple[OpRef, ...]
    sparse_ops: tuple[OpRef, ...]
    d2s: OpRef | None
    s2d: OpRef | None

    @property
    def refs(self) -> tuple[OpRef, ...]:
        return self.dense_ops + self.sparse_ops + tuple(r for r in (self.d2s, self.s2d) if r is not None)


@dataclass(frozen=True)
class NetPlan:
    blocks: tuple[BlockPlan, ...]
    head: OpRef


def op_key(branch: str, name: str) -> str:
    return f"{branch}_{name}"


def _merger(name: str, spec: OpSpec) -> OpRef:
    return OpRef(name, MERGER_OPERATORS[name], spec)


def plan(genotype: Genotype, ctx: BuildContext) -> NetPlan:
    """Resolve the live parts of `genotype` (`Genotype.liveness`) into operator specs over `ctx`'s layout:
    dead blocks, and dead operators and mergers of live blocks, are left out."""
    g = genotype.canonical()
    width = {0: ctx.features.n_dense}
    tokens = {0: ctx.features.n_sparse}
    merged = {0: False}
    common: dict[str, Any] = dict(layernorm=ctx.layernorm, emb_dim=ctx.emb_dim)
    blocks = []
    for k, (block, live) in enumerate(zip(g.blocks, g.liveness(), strict=True), start=1):
        width[k], tokens[k], merged[k] = block.dense.dim, block.sparse.dim, block.dense_to_sparse
        if not live.live:
            continue
        dense_ops = block.dense.ops if live.dense_ops else ()
        sparse_ops = block.sparse.ops if live.sparse_ops else ()
        reads = set().union(*(get_operator(o).reads for o in dense_ops + sparse_ops))
        ins = block.inputs
        dense_src = tuple(ins.dense or ()) if "dense" in reads else ()
        sparse_src = tuple(ins.sparse or ()) if "sparse" in reads else ()
        pair = "pair" in reads

        dense_in = tuple(ctx.dense_source(n, width[n]) for n in dense_src)
        sparse_in = tuple(ctx.sparse_source(n, tokens[n], merged[n]) for n in sparse_src)
        pair_in = None
        if pair:
            assert ins.left is not None and ins.right is not None  # the schema requires both for a pair operator
            pair_in = (ctx.dense_source(ins.left, width[ins.left]), ctx.dense_source(ins.right, width[ins.right]))

        def spec(op: str, dim: int, dense_in=dense_in, sparse_in=sparse_in, pair_in=pair_in) -> OpSpec:
            op_reads = get_operator(op).reads
            left, right = pair_in if pair_in is not None and "pair" in op_reads else (None, None)
            return OpSpec(
                dim=dim,
                dense=dense_in if "dense" in op_reads else (),
                sparse=sparse_in if "sparse" in op_reads else (),
                left=left,
                right=right,
                **common,
            )

        merger_spec = OpSpec(dim=block.dense.dim, norm_raw_fm=ctx.norm_raw_fm, **common)
        blocks.append(
            BlockPlan(
                k=k,
                dense_src=dense_src,
                sparse_src=sparse_src,
                left=ins.left if pair else None,
                right=ins.right if pair else None,
                dense_ops=tuple(
                    OpRef(op_key("dense", o), get_operator(o), spec(o, block.dense.dim)) for o in dense_ops
                ),
                sparse_ops=tuple(
                    OpRef(op_key("sparse", o), get_operator(o), spec(o, block.sparse.dim)) for o in sparse_ops
                ),
                d2s=_merger("dense_to_sparse", merger_spec) if live.dense_to_sparse else None,
                s2d=_merger("sparse_to_dense", merger_spec) if live.sparse_to_dense else None,
            )
        )
    last = g.blocks[-1]
    head = OpRef("head", HEAD, HEAD.spec_for(ctx, last.dense.dim, last.sparse.dim, last.dense_to_sparse))
    return NetPlan(blocks=tuple(blocks), head=head)


Call = Callable[[BlockPlan, OpRef, OpInputs], Tensor]
"""Runs one operator of a block on its inputs: with a standalone model's module, or a view's slices."""


def _cat(parts: list[Tensor], dim: int) -> Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=dim)


def _cat_tokens(parts: list[Tensor]) -> Tensor:
    """[B, T_i, E] sparse inputs joined along the token axis into [B, T, E] stored tokens-last (the transpose
    of a contiguous [B, E, T]): every built-in operator that reads it starts with a Linear over the token
    axis, which then multiplies it without a copy. The same values, only the memory order differs."""
    if len(parts) == 1:
        return parts[0]
    return torch.cat([p.transpose(1, 2) for p in parts], dim=2).transpose(1, 2)


def run(net: NetPlan, dense: Tensor, sparse: Tensor, call: Call) -> Tensor:
    """Head input features [B, D_last + E * T_last] of the network described by `net`. A block output that
    nothing live reads (its branch is dead) is None."""
    nodes: dict[int, tuple[Tensor | None, Tensor | None]] = {0: (dense, sparse)}

    def dense_of(n: int) -> Tensor:
        out = nodes[n][0]
        assert out is not None, f"node {n}'s dense output is read but was not computed"
        return out

    def sparse_of(n: int) -> Tensor:
        out = nodes[n][1]
        assert out is not None, f"node {n}'s sparse output is read but was not computed"
        return out

    for bp in net.blocks:
        x = OpInputs(
            dense=_cat([dense_of(n) for n in bp.dense_src], 1) if bp.dense_src else None,
            sparse=_cat_tokens([sparse_of(n) for n in bp.sparse_src]) if bp.sparse_src else None,
            left=dense_of(bp.left) if bp.left is not None else None,
            right=dense_of(bp.right) if bp.right is not None else None,
        )
        d_out = _sum([call(bp, r, x) for r in bp.dense_ops])
        s_out = _sum([call(bp, r, x) for r in bp.sparse_ops])
        d_final = d_out
        if bp.s2d is not None:
            assert d_out is not None and s_out is not None
            d_final = d_out + call(bp, bp.s2d, OpInputs(sparse=s_out))
        if bp.d2s is not None:
            assert d_out is not None and s_out is not None
            s_out = torch.cat([s_out, call(bp, bp.d2s, OpInputs(dense=d_out))], 1)
        nodes[bp.k] = (d_final, s_out)
    return torch.cat([dense_of(net.blocks[-1].k), sparse_of(net.blocks[-1].k).flatten(1)], dim=1)


def _sum(outs: list[Tensor]) -> Tensor | None:
    if not outs:
        return None
    total = outs[0]
    for o in outs[1:]:
        total = total + o
    return total
