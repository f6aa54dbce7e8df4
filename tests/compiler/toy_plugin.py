"""A third-party operator, as a plug-in package would ship it (loaded through the entry-point group)."""

from __future__ import annotations

import torch

from nasrec.compiler import Operator, register_operator
from nasrec.compiler.base import linear, linear_params


@register_operator("toy_tanh", branch="dense", reads={"dense"}, label="Toy-Tanh", description="tanh(Linear(dense))")
class ToyTanh(Operator):
    def params(self, spec):
        return linear_params("toy", spec.dim, tuple(spec.dense_columns()), bias=True)

    def forward(self, p, x, spec):
        return torch.tanh(linear(p, "toy", x.dense))
