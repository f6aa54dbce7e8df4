"""EFC (embedded fully-connected): Linear along the token axis T_in -> S (bias iff LayerNorm off),
LayerNorm over the S tokens, ReLU. Output [B, S, E]."""

from __future__ import annotations

import torch.nn.functional as F

from nasrec.compiler.base import Operator, linear_params, norm, norm_params, token_linear
from nasrec.compiler.registry import register_operator


def token_projection_params(spec, prefix: str = "tok"):
    out = linear_params(prefix, spec.dim, tuple(spec.token_positions()), bias=not spec.layernorm)
    if spec.layernorm:
        out |= norm_params(f"{prefix}_ln", spec.dim)
    return out


@register_operator("efc")
class EFC(Operator):
    def params(self, spec):
        return token_projection_params(spec)

    def forward(self, p, x, spec):
        return F.relu(norm(p, "tok_ln", token_linear(p, "tok", x.sparse))).transpose(1, 2)
