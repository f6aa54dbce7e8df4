"""Cost of a genotype: dense and embedding parameters, multiply-adds per example (fvcore).

FLOPs follow the reference README: fvcore's count of multiply-adds for one example through the standalone
model (blocks that reach the head, and the head), LayerNorm not counted, element-wise ops (activations, the
FM merger's squares and sums, gating's product, residual adds) not counted, embedding lookups not counted.
Handles added for what fvcore misses: `aten::scaled_dot_product_attention` (QK^T and AV: 2 * L * S * d per
head). `aten::bmm` / `aten::matmul` / `aten::linear` are fvcore's own handles.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from math import prod
from typing import Any

import torch

from nasrec.data.spec import FeatureSpec
from nasrec.genotype.schema import Genotype


@dataclass(frozen=True)
class Cost:
    dense_params: int
    embedding_params: int
    flops: int  # multiply-adds per example

    @property
    def mflops(self) -> float:
        return self.flops / 1e6


def _shape(v: Any) -> list[int]:
    return list(v.type().sizes())


def _sdpa_flops(inputs: list[Any], outputs: list[Any]) -> int:
    q, k, v = (_shape(x) for x in inputs[:3])
    batch_heads = prod(q[:-2])
    return batch_heads * q[-2] * k[-2] * (q[-1] + v[-1])


def _zero(inputs: list[Any], outputs: list[Any]) -> int:
    return 0


def count_flops(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> int:
    """fvcore multiply-add count of `model(*inputs)` with the handles above (LayerNorm ignored)."""
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, inputs)
    analysis.set_op_handle("aten::scaled_dot_product_attention", _sdpa_flops,
                           "aten::layer_norm", _zero)  # a None handle does not override fvcore's default
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    logger = logging.getLogger("fvcore")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # jit.trace warns about Python values recorded as constants (the plan's fixed widths): expected
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            return int(analysis.total())
    finally:
        logger.setLevel(level)


def cost(genotype: Genotype, features: FeatureSpec, layernorm: bool = True) -> Cost:
    """Parameters and multiply-adds per example of `genotype`'s standalone model for `features`."""
    from nasrec.compiler.standalone import compile_standalone

    model = compile_standalone(genotype, features, layernorm=layernorm).eval()
    dense = torch.zeros(1, features.n_dense)
    sparse = torch.zeros(1, features.n_sparse, dtype=torch.long)
    return Cost(dense_params=model.num_dense_params(), embedding_params=model.num_embedding_params(),
                flops=count_flops(model, (dense, sparse)))
