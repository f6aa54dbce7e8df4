"""Shared by the binary dense operators: pad `left` and `right` to a common width w."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def pad_to(x: Tensor, width: int) -> Tensor:
    return x if x.shape[1] == width else F.pad(x, (0, width - x.shape[1]))


def needs_projection(spec) -> bool:
    """Linear(w -> D) exists unless the widths already match; the supernet's max-size instance always has it
    (a view whose active widths match skips it, exactly like the standalone model)."""
    return spec.supernet_max or spec.pair_width != spec.dim
