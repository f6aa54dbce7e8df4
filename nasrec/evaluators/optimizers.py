"""The optimizers of the training loop — Adagrad over dense parameters and over embeddings' sparse gradients —
and the switch back to the code path before issue 18, for benchmarks/train_step.py and the tests that check
the current path computes what it did."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import torch
from torch import nn

from nasrec.compiler import base as compiler_base
from nasrec.compiler import optim as compiler_optim
from nasrec.compiler.operators import attention
from nasrec.compiler.optim import FusedAdagrad, RowSparseAdagrad


class Rates(Protocol):
    """What an optimizer reads of a recipe (`TrainConfig`)."""

    @property
    def lr(self) -> float: ...

    @property
    def eps(self) -> float: ...


FAST_ADAGRAD = True
"""Dense parameters get `FusedAdagrad`: on CPU one pass of nasrec's fused kernel per tensor (torch's update
with IEEE's sqrt, within a unit in the last place of it; with `compiler.optim.FUSED_ADAGRAD` off or elsewhere,
torch's multi-tensor (foreach) Adagrad, bitwise the per-tensor loop's update); embeddings get
`RowSparseAdagrad`: bitwise torch's sparse update, on the gradient's rows only. False: the previous path
(torch's per-tensor loop and sparse branch), for benchmarks/train_step.py. (torch's own fused CPU Adagrad
rounds differently beyond the sqrt, and over 20 steps at lr 0.12 drifted losses by 2e-5: not used.)"""


def dense_adagrad(params: list[nn.Parameter], config: Rates) -> torch.optim.Optimizer:
    """Adagrad for dense parameters: `FusedAdagrad` (`FAST_ADAGRAD`), else torch's per-tensor loop."""
    if FAST_ADAGRAD:
        return FusedAdagrad(params, lr=config.lr, eps=config.eps, foreach=True)
    return torch.optim.Adagrad(params, lr=config.lr, eps=config.eps)


def sparse_adagrad(params: list[nn.Parameter], config: Rates) -> torch.optim.Optimizer:
    """Adagrad for the embeddings' sparse gradients: `RowSparseAdagrad` (`FAST_ADAGRAD`), else torch's."""
    cls = RowSparseAdagrad if FAST_ADAGRAD else torch.optim.Adagrad
    return cls(params, lr=config.lr, eps=config.eps)


def split_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(dense, sparse) trainable parameters; sparse = those of embeddings with sparse gradients."""
    sparse_ids = {
        id(p)
        for m in model.modules()
        if isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and m.sparse
        for p in m.parameters()
    }
    params = [p for p in model.parameters() if p.requires_grad]
    return [p for p in params if id(p) not in sparse_ids], [p for p in params if id(p) in sparse_ids]


@contextmanager
def previous_code_path(previous: bool = True) -> Iterator[None]:
    """Inside, the code path before issue 18 (`previous`; False: the current one): torch's per-tensor and sparse
    Adagrad, SDPA on `qkv[i]`, `F.layer_norm` everywhere, `SlicedAdagrad` in foreach calls."""
    old = FAST_ADAGRAD, attention.SELECT_QKV, compiler_base.NATIVE_NORM, compiler_optim.FUSED_ADAGRAD
    _set_path(not previous, previous, previous, not previous)
    try:
        yield
    finally:
        _set_path(*old)


def _set_path(fast_adagrad: bool, select_qkv: bool, native_norm: bool, fused_adagrad: bool) -> None:
    global FAST_ADAGRAD
    FAST_ADAGRAD, attention.SELECT_QKV, compiler_base.NATIVE_NORM = fast_adagrad, select_qkv, native_norm
    compiler_optim.FUSED_ADAGRAD = fused_adagrad
