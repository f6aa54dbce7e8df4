"""Dot-Product WITHOUT operator balancing, for the ranking study's ablation (the paper's Table 3).

A plug-in operator, `dot-unbalanced`: like the built-in `dot`, but the sparse tokens are not projected to
k = round(sqrt(2D)) tokens first — every pair of the block's N input tokens and its dense token takes part, so
its output Linear reads (N + 1) N / 2 products instead of k (k + 1) / 2, and its cost grows with the number of
tokens the block reads. Weight sharing: a pair of tokens keeps its column of the supernet's output Linear
whatever other tokens a view reads (column of slots a > b: a (a - 1) / 2 + b, slot 0 the dense token, slot
1 + p the token at position p of the supernet's sparse concat).

Importing this module registers the operator; `space()` writes NASRec-Full with `dot` replaced by it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from nasrec.compiler.base import Operator, ParamDef, linear, linear_params, norm, norm_params
from nasrec.compiler.registry import list_operators, register_operator
from nasrec.genotype.space import get_space

NAME = "dot-unbalanced"


def _pair_columns(slots: list[int]) -> tuple[int, ...]:
    """Supernet columns of the strict lower triangle (row-major) of the tokens in `slots` (ascending)."""
    return tuple(a * (a - 1) // 2 + b for i, a in enumerate(slots) for b in slots[:i])


class DotUnbalanced(Operator):
    def params(self, spec):
        e, bias = spec.emb_dim, not spec.layernorm
        out: dict[str, ParamDef] = {}
        if spec.supernet_max or spec.dense_width != e:
            out |= linear_params("dense", e, tuple(spec.dense_columns()), bias)
            if spec.layernorm:
                out |= norm_params("dense_ln", e)
        slots = [0] + [1 + p for p in spec.token_positions()]
        n = len(slots)
        cols: int | tuple[int, ...] = n * (n - 1) // 2 if spec.supernet_max else _pair_columns(slots)
        out |= linear_params("out", spec.dim, cols, bias)
        if spec.layernorm:
            out |= norm_params("ln", spec.dim)
        return out

    def forward(self, p, x, spec):
        d = x.dense
        if "dense_w" in p:
            d = norm(p, "dense_ln", linear(p, "dense", d))
        t = torch.cat([d.unsqueeze(1), x.sparse], dim=1)  # [B, N + 1, E]
        n = t.shape[1]
        z = torch.bmm(t, t.transpose(1, 2)).flatten(1)
        rows, cols = torch.tril_indices(n, n, offset=-1, device=z.device)
        return norm(p, "ln", linear(p, "out", z.index_select(1, rows * n + cols)))


if NAME not in list_operators():
    register_operator(
        NAME,
        branch="dense",
        reads={"dense", "sparse"},
        label="Dot-Product (unbalanced)",
        description="all pairwise dot products of the dense token and every sparse token; Linear; LN",
    )(DotUnbalanced)


def space(path: str | Path, base: str = "nasrec-full") -> Path:
    """Write `base` with `dot` replaced by `dot-unbalanced` to `path` (a search space JSON file)."""
    doc = json.loads(get_space(base).model_dump_json())
    doc["dense_ops"] = [NAME if op == "dot" else op for op in doc["dense_ops"]]
    doc["name"] = f"{base}-dot-unbalanced"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path
