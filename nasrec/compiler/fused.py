"""Fused CPU kernels, built on first use: for the operators' narrow shapes, the attention core (heads of width
E / 8 = 2) and LayerNorm over rows of up to 64 floats; and Adagrad's dense update in one pass per tensor.

torch's SDPA kernel and matrix products are the wrong tools for 8 heads of width 2: per (example, head) the
work is S x S scores of 2-term dot products, and their per-block overheads dominate (docs/training.md,
"Training throughput"). `csrc/attention.h` holds W query rows of one head in the vector lanes and loops
over the keys with broadcast scalars (no horizontal reduction per score), reads q, k, v from the projection's
[B, S, 3, H, d] output and writes the [B, S, H, d] result (no permute copies), and its backward recomputes the
probabilities from the saved row log-sum-exp. Heads up to 8 wide (E <= 64). Same function as SDPA up to float
rounding (tests/compiler/test_fused_attention.py). Likewise torch's LayerNorm kernel spends its time per row,
not per float, on the operators' rows of 16-64 floats (a token, a token axis): `csrc/layer_norm.h` keeps a row
in 1-4 vector registers (tests/compiler/test_fused_layer_norm.py). `csrc/adagrad.h` reads a gradient, its
accumulator and its parameter once where torch's foreach Adagrad makes four passes
(tests/compiler/test_fused_adagrad.py).

The extension (`csrc/kernels.cpp`) is compiled with `torch.utils.cpp_extension` (a C++ compiler, ~1 min once
per machine, cached in torch's extension folder). Without one, or with `NASREC_FUSED_KERNELS=0`, or when
tracing, exporting or compiling (torch.jit / torch.export / torch.compile see SDPA and `F.layer_norm`), on
other devices and dtypes, callers use torch's operators.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

log = logging.getLogger(__name__)

CSRC = Path(__file__).with_name("csrc")
SOURCE = CSRC / "kernels.cpp"
"""The extension's one translation unit; it includes the other files of `CSRC`."""
ENABLED = os.environ.get("NASREC_FUSED_KERNELS", "1") != "0"
"""Use the fused kernels where they apply; False (or NASREC_FUSED_KERNELS=0): always torch's operators."""

_state: dict[str, Any] = {}


def extension() -> Any | None:
    """The compiled extension module, building it on first call; None when it cannot be built."""
    if "ext" not in _state:
        try:
            from torch.utils.cpp_extension import load

            _state["ext"] = load(
                name=f"nasrec_fused_kernels_{_machine_tag()}",
                sources=[str(SOURCE)],
                extra_cflags=["-O3", "-march=native"],
                verbose=False,
            )
        except Exception as e:  # no compiler, no headers: fall back to SDPA, once
            log.warning("nasrec: fused CPU kernels unavailable (%s); using torch's operators", e)
            _state["ext"] = None
    return _state["ext"]


def _machine_tag(source: Path = SOURCE) -> str:
    """A short hash of the CPU's instruction-set flags and of the sources' text (`source` and the files beside
    it) and location. The build uses -march=native, so a build cached in a shared home folder must not be
    loaded by a node with another CPU; and torch's build folder records the source's path, so two installs
    (checkouts, venvs) sharing one name would rebuild each other's extension (~1 min) every time the other
    loads it."""
    flags = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            flags += next((line for line in f if line.startswith("flags")), "")
    except OSError:
        pass
    where = str(source.resolve()).encode()
    text = b"".join(p.name.encode() + p.read_bytes() for p in sorted(source.parent.iterdir()) if p.is_file())
    return hashlib.sha1(flags.encode() + text + where).hexdigest()[:10]


def _usable(x: Tensor) -> Any | None:
    """The extension, where a fused kernel may run on `x`: a float32 CPU tensor, eager mode; else None."""
    if not ENABLED or x.device.type != "cpu" or x.dtype != torch.float32:
        return None
    if torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling():
        return None
    return extension()


def attention_applies(qkv: Tensor) -> bool:
    """Whether `fused_attention` runs on `qkv` (else callers use SDPA)."""
    ext = _usable(qkv)
    return ext is not None and qkv.shape[-1] <= ext.max_head_width


def layer_norm_applies(x: Tensor, weight: Tensor, bias: Tensor | None) -> bool:
    """Whether `layer_norm` runs on `x` with this weight and bias (else callers use `F.layer_norm`)."""
    ext = _usable(x)
    if ext is None or bias is None or not 0 < x.shape[-1] <= ext.max_norm_width:
        return False
    return weight.dtype == bias.dtype == torch.float32 and weight.device.type == bias.device.type == "cpu"


class _FusedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, qkv: Tensor, scale: float) -> Tensor:
        out, lse = extension().attention_forward(qkv, scale)  # type: ignore[union-attr]  # attention_applies() checked
        ctx.save_for_backward(qkv, out, lse)
        ctx.scale = scale
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        qkv, out, lse = ctx.saved_tensors
        return extension().attention_backward(grad, qkv, out, lse, ctx.scale), None  # type: ignore[union-attr]  # as forward


def fused_attention(qkv: Tensor) -> Tensor:
    """Softmax attention of every head: qkv [B, S, 3, H, d] (q, k, v per head) -> [B, S, H, d], scaled by
    1 / sqrt(d) as SDPA. Check `attention_applies(qkv)` first."""
    return _FusedAttention.apply(qkv.contiguous(), qkv.shape[-1] ** -0.5)


class _FusedLayerNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
        y, mean, rstd = extension().layer_norm_forward(x, weight, bias, eps)  # type: ignore[union-attr]  # checked
        ctx.save_for_backward(x, mean, rstd, weight)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        x, mean, rstd, weight = ctx.saved_tensors
        dx, dw, db = extension().layer_norm_backward(grad, x, mean, rstd, weight)  # type: ignore[union-attr]
        return dx, dw, db, None


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """`F.layer_norm(x, (C,), weight, bias, eps)` over the last axis (C <= 64), up to
    float rounding. Check `layer_norm_applies(x, weight, bias)` first."""
    return _FusedLayerNorm.apply(x, weight, bias, eps)


def adagrad_applies(params: list[Tensor], sums: list[Tensor]) -> bool:
    """Whether `adagrad_step` takes these parameters and accumulators: float32 CPU tensors of at most 2 axes,
    the last one contiguous, each parameter strided like its accumulator (e.g. the same slice of both)."""
    ext = _usable(params[0]) if params else None
    return ext is not None and all(
        p.dtype == s.dtype == torch.float32
        and p.device.type == s.device.type == "cpu"
        and p.dim() <= 2
        and p.stride() == s.stride()
        and (p.dim() == 0 or p.stride(-1) == 1)
        for p, s in zip(params, sums, strict=True)
    )


def adagrad_step(params: list[Tensor], sums: list[Tensor], grads: list[Tensor], lr: float, eps: float) -> None:
    """In place, per element: sum = fma(g, g, sum); param += (-lr * g) / (sqrt(sum) + eps) — torch's Adagrad
    update (no weight or lr decay) in one pass per tensor, with IEEE's correctly rounded sqrt (torch's CPU sqrt
    is a vector library's, one unit in the last place off for ~0.7 % of floats). Check `adagrad_applies` first."""
    extension().adagrad_step(params, sums, grads, lr, eps)  # type: ignore[union-attr]  # checked by adagrad_applies
