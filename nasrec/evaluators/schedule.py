"""The learning-rate schedule every training run uses (a linear warm-up with a floor in steps, then a cosine to
0) and the head's start at the base rate."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

WARMUP_FLOOR = 100
"""Default `min_warmup_steps`: see docs/training.md for the measurements behind it."""


def warmup_steps(total: int, warmup: float, min_steps: int = 0) -> int:
    """Steps of linear warm-up: `warmup` of the run, at least `min_steps`."""
    return max(int(total * warmup), min_steps)


def cosine_with_warmup(total: int, warmup: float, min_steps: int = 0) -> Callable[[int], float]:
    """lr factor per step: linear warm-up over max(`warmup` * total, `min_steps`) steps, then a cosine to 0.
    A warm-up longer than the run leaves the run in warm-up: its peak is total / warm-up steps."""
    warm = warmup_steps(total, warmup, min_steps)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def logit(rate: float) -> float:
    """log(p / (1 - p)) of a click rate, clamped to [1e-6, 1 - 1e-6]."""
    p = min(max(rate, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


@torch.no_grad()
def init_head(model: nn.Module, base_rate: float) -> None:
    """Zero the head's weights and set its bias to logit(`base_rate`): every (sub)network starts as the
    constant predictor of the training rows instead of a random miscalibration."""
    head = getattr(model, "head", None)
    if head is None or not hasattr(head, "head_w"):
        return
    head.head_w.zero_()
    head.head_b.fill_(logit(base_rate))
