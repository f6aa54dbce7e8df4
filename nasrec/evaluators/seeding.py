"""Reproducible initialisations that leave the caller's random stream alone."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Inside, torch's global generators are seeded with `seed` (a model built there is initialised the same
    every time); after, the caller's generator states are back, as if nasrec had drawn nothing."""
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count())) if cuda else []):
        torch.manual_seed(seed)
        yield
