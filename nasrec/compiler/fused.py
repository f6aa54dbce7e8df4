"""A fused CPU kernel for the attention operator's core (heads of width E / 8 = 2), built on first use.

torch's SDPA kernel and matrix products are the wrong tools for 8 heads of width 2: per (example, head) the
work is S x S scores of 2-term dot products, and their per-block overheads dominate (docs/training.md,
"Training throughput"). `csrc/attention.cpp` holds W query rows of one head in the vector lanes and loops
over the keys with broadcast scalars (no horizontal reduction per score), reads q, k, v from the projection's
[B, S, 3, H, d] output and writes the [B, S, H, d] result (no permute copies), and its backward recomputes the
probabilities from the saved row log-sum-exp. Heads up to 8 wide (E <= 64). Same function as SDPA up to float
rounding (tests/compiler/test_fused_attention.py).

The extension is compiled with `torch.utils.cpp_extension` (a C++ compiler, ~1 min once per machine, cached
in torch's extension folder). Without one, or with `NASREC_FUSED_ATTENTION=0`, or when tracing, exporting or
compiling (torch.jit / torch.export / torch.compile see plain SDPA), on other devices and dtypes, callers use
SDPA.
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

SOURCE = Path(__file__).with_name("csrc") / "attention.cpp"
ENABLED = os.environ.get("NASREC_FUSED_ATTENTION", "1") != "0"
"""Use the fused kernel where it applies; False (or NASREC_FUSED_ATTENTION=0): always SDPA."""

_state: dict[str, Any] = {}


def extension() -> Any | None:
    """The compiled extension module, building it on first call; None when it cannot be built."""
    if "ext" not in _state:
        try:
            from torch.utils.cpp_extension import load

            _state["ext"] = load(
                name=f"nasrec_fused_attention_{_machine_tag()}",
                sources=[str(SOURCE)],
                extra_cflags=["-O3", "-march=native"],
                verbose=False,
            )
        except Exception as e:  # no compiler, no headers: fall back to SDPA, once
            log.warning("nasrec: fused attention kernel unavailable (%s); using SDPA", e)
            _state["ext"] = None
    return _state["ext"]


def _machine_tag(source: Path = SOURCE) -> str:
    """A short hash of the CPU's instruction-set flags and of the source's text and location. The build uses
    -march=native, so a build cached in a shared home folder must not be loaded by a node with another CPU;
    and torch's build folder records the source's path, so two installs (checkouts, venvs) sharing one name
    would rebuild each other's extension (~1 min) every time the other loads it."""
    flags = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            flags += next((line for line in f if line.startswith("flags")), "")
    except OSError:
        pass
    where = str(source.resolve()).encode()
    return hashlib.sha1(flags.encode() + source.read_bytes() + where).hexdigest()[:10]


def applies(x: Tensor) -> bool:
    """Whether `fused_attention` runs on `x` (else callers use SDPA)."""
    if not ENABLED or x.device.type != "cpu" or x.dtype != torch.float32:
        return False
    if torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling():
        return False
    ext = extension()
    return ext is not None and x.shape[-1] <= ext.max_head_width


class _FusedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, qkv: Tensor, scale: float) -> Tensor:
        out, lse = extension().forward(qkv, scale)  # type: ignore[union-attr]  # applies() checked it is built
        ctx.save_for_backward(qkv, out, lse)
        ctx.scale = scale
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        qkv, out, lse = ctx.saved_tensors
        return extension().backward(grad, qkv, out, lse, ctx.scale), None  # type: ignore[union-attr]  # as forward


def fused_attention(qkv: Tensor) -> Tensor:
    """Softmax attention of every head: qkv [B, S, 3, H, d] (q, k, v per head) -> [B, S, H, d], scaled by
    1 / sqrt(d) as SDPA. Check `applies(qkv)` first."""
    return _FusedAttention.apply(qkv.contiguous(), qkv.shape[-1] ** -0.5)
