"""Dot-Product (operator-balanced): x = LN(Linear(dense -> E)) as one token; the sparse tokens projected along
the token axis to k = round(sqrt(2D)) tokens (Linear, LN over k); all pairwise dot products of the k + 1
tokens (strict lower triangle, row-major, so a smaller k is a prefix of a larger one); Linear(P -> D); LN.

Linears followed by a LayerNorm have a bias only when LayerNorm is off. The dense Linear is skipped when
w == E and the token projection when N == k, each with its LayerNorm (the reference's rule: the raw dense
vector, the raw tokens) — in the standalone model and, identically, in a supernet view whose widths match.
"""

from __future__ import annotations

import math

import torch

from nasrec.compiler.base import Operator, ParamDef, linear, linear_params, norm, norm_params
from nasrec.compiler.registry import register_operator


def num_tokens(dim: int) -> int:
    """k = round(sqrt(2D)) (the reference's rounding; the paper writes ceil)."""
    return round(math.sqrt(2 * dim))


def num_pairs(k: int) -> int:
    return k * (k + 1) // 2


@register_operator("dot")
class Dot(Operator):
    def params(self, spec):
        e, k, bias = spec.emb_dim, num_tokens(spec.dim), not spec.layernorm
        out: dict[str, ParamDef] = {}
        if spec.supernet_max or spec.dense_width != e:
            out |= linear_params("dense", e, tuple(spec.dense_columns()), bias)
            if spec.layernorm:
                out |= norm_params("dense_ln", e)
        if spec.supernet_max or spec.tokens != k:
            out |= linear_params("tok", k, tuple(spec.token_positions()), bias)
            if spec.layernorm:
                out |= norm_params("tok_ln", k)
        out |= linear_params("out", spec.dim, num_pairs(k), bias)
        if spec.layernorm:
            out |= norm_params("ln", spec.dim)
        return out

    def forward(self, p, x, spec):
        k = num_tokens(spec.dim)
        d = x.dense
        if "dense_w" in p:
            d = norm(p, "dense_ln", linear(p, "dense", d))
        s = x.sparse.transpose(1, 2)  # [B, E, N]
        if "tok_w" in p:
            s = norm(p, "tok_ln", linear(p, "tok", s))  # [B, E, k]
        t = torch.cat([d.unsqueeze(1), s.transpose(1, 2)], dim=1)  # [B, k + 1, E]
        z = torch.bmm(t, t.transpose(1, 2)).flatten(1)
        rows, cols = torch.tril_indices(k + 1, k + 1, offset=-1, device=z.device)
        pairs = z.index_select(1, rows * (k + 1) + cols)
        return norm(p, "ln", linear(p, "out", pairs))
