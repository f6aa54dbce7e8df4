"""FC: Linear(dense input -> D), LayerNorm, ReLU. The Linear has a bias only when LayerNorm is off."""

from __future__ import annotations

import torch.nn.functional as F

from nasrec.compiler.base import Operator, linear, linear_params, norm, norm_params
from nasrec.compiler.registry import register_operator


@register_operator("fc")
class FC(Operator):
    def params(self, spec):
        out = linear_params("fc", spec.dim, tuple(spec.dense_columns()), bias=not spec.layernorm)
        if spec.layernorm:
            out |= norm_params("ln", spec.dim)
        return out

    def forward(self, p, x, spec):
        return F.relu(norm(p, "ln", linear(p, "fc", x.dense)))
