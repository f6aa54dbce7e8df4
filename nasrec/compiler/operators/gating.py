"""Sigmoid-Gating: pad left/right to w; sigmoid(Linear_ww(left)) * right; Linear(w -> D) when w != D;
LayerNorm; no activation. Both Linears always have a bias (reference rule)."""

from __future__ import annotations

import torch

from nasrec.compiler.base import Operator, linear, linear_params, norm, norm_params
from nasrec.compiler.operators._pair import needs_projection, pad_to
from nasrec.compiler.registry import register_operator


@register_operator("gating")
class Gating(Operator):
    def params(self, spec):
        w = spec.pair_width
        out = linear_params("gate", w, w, bias=True)
        if needs_projection(spec):
            out |= linear_params("proj", spec.dim, w, bias=True)
        if spec.layernorm:
            out |= norm_params("ln", spec.dim)
        return out

    def forward(self, p, x, spec):
        w = spec.pair_width
        h = torch.sigmoid(linear(p, "gate", pad_to(x.left, w))) * pad_to(x.right, w)
        if "proj_w" in p:
            h = linear(p, "proj", h)
        return norm(p, "ln", h)
