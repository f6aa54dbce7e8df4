"""Cost of a genotype: dense and embedding parameters, FLOPs per example, embedding lookups.

One fvcore trace of the standalone model on one example (only the parts that reach the head are built, so
only they count) gives two FLOP figures:
- `flops`, every operator's arithmetic: the multiply-adds of matrix products (fvcore's own handles for
  `aten::linear`, `matmul`, `bmm`, ...), the attention core (QK^T and AV: nasrec's handle for
  `aten::scaled_dot_product_attention`, which fvcore does not count), and each element-wise product, sum
  and difference of floating tensors (nasrec's handles: `aten::mul`, `add`, `sub`, `square` one per output
  element, `aten::sum` one per addition) — gating's product, the FM merger's squares and sums, attention's
  residual adds, the sum of a branch's operators and the FM term's add to the dense output;
- `flops_ref`, the reference README's convention: matrix products and the attention core only.
Neither counts LayerNorm, activations, softmax and attention's scaling, padding, concatenation, indexing or
bias adds (fvcore's Linear handle counts none). The embedding lookups are a separate figure:
`embedding_lookups` rows of E floats gathered per example, one per sparse field.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from math import prod
from typing import Any

import torch

from nasrec.data.spec import FeatureSpec
from nasrec.genotype.schema import Genotype

MATMUL_OPS = (
    "aten::linear",
    "aten::matmul",
    "aten::mm",
    "aten::bmm",
    "aten::addmm",
    "aten::einsum",
    "aten::scaled_dot_product_attention",
)
"""Operators of the reference convention (`flops_ref`)."""
ELEMENTWISE_OPS = ("aten::mul", "aten::add", "aten::sub", "aten::square", "aten::sum")
"""Element-wise arithmetic nasrec adds for `flops` (floating tensors only; index arithmetic is free)."""


@dataclass(frozen=True)
class Cost:
    """What one example costs. `parts`: `flops` per operator (`b<k>.<key>`, `head`, and `joins` for the
    branch sums and the FM add outside any operator)."""

    dense_params: int
    embedding_params: int
    flops: int
    flops_ref: int = 0
    embedding_lookups: int = 0
    parts: Mapping[str, int] = field(default_factory=dict)


def _tensor_type(v: Any) -> Any:
    t = v.type()
    return (
        t if isinstance(t, torch._C.TensorType) and t.scalarType() in ("Float", "Double", "Half", "BFloat16") else None
    )


def _sdpa_flops(inputs: list[Any], outputs: list[Any]) -> int:
    q, k, v = (list(x.type().sizes()) for x in inputs[:3])
    return prod(q[:-2]) * q[-2] * k[-2] * (q[-1] + v[-1])


def _elementwise_flops(inputs: list[Any], outputs: list[Any]) -> int:
    t = _tensor_type(outputs[0])
    return prod(t.sizes()) if t is not None else 0


def _sum_flops(inputs: list[Any], outputs: list[Any]) -> int:
    t_in, t_out = _tensor_type(inputs[0]), _tensor_type(outputs[0])
    return prod(t_in.sizes()) - prod(t_out.sizes()) if t_in is not None and t_out is not None else 0


def _zero(inputs: list[Any], outputs: list[Any]) -> int:
    return 0


def _analysis(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> Any:
    """fvcore's analysis of `model(*inputs)` with nasrec's handles, already run."""
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, inputs)
    analysis.set_op_handle(
        "aten::scaled_dot_product_attention",
        _sdpa_flops,
        "aten::layer_norm",
        _zero,  # a None handle does not override fvcore's default
        "aten::sum",
        _sum_flops,
        **{op: _elementwise_flops for op in ELEMENTWISE_OPS if op != "aten::sum"},
    )
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    logger = logging.getLogger("fvcore")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # jit.trace warns about Python values recorded as constants (the plan's fixed widths): expected
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            analysis.total()
    finally:
        logger.setLevel(level)
    return analysis


def count_flops(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], convention: str = "all") -> int:
    """FLOPs of `model(*inputs)`: `all` (every operator, as `Cost.flops`) or `reference` (`Cost.flops_ref`)."""
    if convention not in ("all", "reference"):
        raise ValueError(f"unknown FLOP convention {convention!r} (all, reference)")
    by_op = _analysis(model, inputs).by_operator()
    if convention == "reference":
        return int(sum(by_op.get(op.removeprefix("aten::"), 0) for op in MATMUL_OPS))
    return int(sum(by_op.values()))


def cost(genotype: Genotype, features: FeatureSpec, layernorm: bool = True, norm_raw_fm: bool = False) -> Cost:
    """Parameters, FLOPs and embedding lookups per example of `genotype`'s standalone model for `features`
    (with or without its LayerNorms, and the raw FM term's where a `norm_raw_fm` supernet builds it)."""
    from nasrec.compiler.context import BuildContext
    from nasrec.compiler.standalone import StandaloneModel

    ctx = BuildContext.from_genotype(genotype, features, layernorm, norm_raw_fm)
    model = StandaloneModel(genotype, features, ctx, init=False).eval()  # weights do not change the count
    dense = torch.zeros(1, features.n_dense)
    sparse = torch.zeros(1, features.n_sparse, dtype=torch.long)
    analysis = _analysis(model, (dense, sparse))
    by_op, by_module = analysis.by_operator(), analysis.by_module()
    total = int(sum(by_op.values()))
    parts = {
        f"b{bp.k}.{ref.key}": int(by_module[f"blocks.b{bp.k}.{ref.key}"]) for bp in model.plan.blocks for ref in bp.refs
    }
    parts["head"] = int(by_module["head"])
    parts["joins"] = total - sum(parts.values())
    return Cost(
        dense_params=model.num_dense_params(),
        embedding_params=model.num_embedding_params(),
        flops=total,
        flops_ref=int(sum(by_op.get(op.removeprefix("aten::"), 0) for op in MATMUL_OPS)),
        embedding_lookups=features.n_sparse,
        parts=parts,
    )
