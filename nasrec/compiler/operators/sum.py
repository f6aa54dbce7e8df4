"""Sum: pad left/right to w; left + right; Linear(w -> D) when w != D (bias iff LayerNorm off); LayerNorm."""

from __future__ import annotations

from nasrec.compiler.base import Operator, ParamDef, linear, linear_params, norm, norm_params
from nasrec.compiler.operators._pair import needs_projection, pad_to
from nasrec.compiler.registry import register_operator


@register_operator("sum")
class Sum(Operator):
    def params(self, spec):
        out: dict[str, ParamDef] = {}
        if needs_projection(spec):
            out |= linear_params("proj", spec.dim, spec.pair_width, bias=not spec.layernorm)
        if spec.layernorm:
            out |= norm_params("ln", spec.dim)
        return out

    def forward(self, p, x, spec):
        w = spec.pair_width
        h = pad_to(x.left, w) + pad_to(x.right, w)
        if "proj_w" in p:
            h = linear(p, "proj", h)
        return norm(p, "ln", h)
