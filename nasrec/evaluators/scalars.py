"""Scalars for TensorBoard (extra `tensorboard`): one writer per process, installed by the CLI's
`--tensorboard DIR` around a command; without one, `add_scalar` does nothing.

What is logged: every training step's loss and learning rate and every validation's log loss
(`supernet/...`, `full/<digest>/<split>/seed<N>/...`), each search evaluation's score and the best so far
(`search/score`, `search/best_score`), final metrics of `evaluate` and the rank study's agreements. Work
done in other processes (`--workers > 1`) logs nothing; their results still reach the search's scalars.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nasrec.errors import UsageError

_writer: Any = None


@contextlib.contextmanager
def tensorboard(logdir: str | Path | None) -> Iterator[None]:
    """Write this process's scalars under `logdir` (None: nothing); only rank 0 writes under torchrun."""
    global _writer
    if logdir is None or os.environ.get("RANK", "0") != "0":
        yield
        return
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UsageError("--tensorboard needs the tensorboard package: pip install 'nasrec[tensorboard]'") from None
    if Path(logdir).exists() and not Path(logdir).is_dir():
        raise UsageError(f"--tensorboard {logdir} is a file, not a folder; choose another path")
    previous, _writer = _writer, SummaryWriter(str(logdir))
    try:
        yield
    finally:
        _writer.close()
        _writer = previous


def tag(*parts: object) -> str:
    """A TensorBoard tag from parts: `/`-joined, characters other than letters, digits, `_.-` become `_`."""
    return "/".join(re.sub(r"[^\w.-]+", "_", str(p)) for p in parts)


def add_scalar(name: str, value: float, step: int) -> None:
    """Log one finite value (a NaN or inf is left out) when a writer is installed."""
    if _writer is not None and math.isfinite(value):
        _writer.add_scalar(name, float(value), step)


def enabled() -> bool:
    return _writer is not None
