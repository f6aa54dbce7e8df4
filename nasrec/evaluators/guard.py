"""The divergence guard of the training loop: counts steps whose loss is non-finite or far above the running
median, reports them at the end, and stops a run that keeps diverging with one message naming the step and
the settings to change."""

from __future__ import annotations

import math
from collections import deque
from typing import NoReturn

import numpy as np
from pydantic import BaseModel, Field

from nasrec.errors import NasrecError


class TrainingDiverged(NasrecError, RuntimeError):
    """The loss became non-finite, or spiked for too many steps in a row; the last good checkpoint is kept.
    From the guard: `step` and `loss` where it stopped, and `detail`, its message without label and hint."""

    def __init__(self, message: str, step: int | None = None, loss: float | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.step, self.loss, self.detail = step, loss, detail or message

    def __reduce__(self) -> tuple[type[TrainingDiverged], tuple[str, int | None, float | None, str]]:
        return type(self), (str(self), self.step, self.loss, self.detail)  # kept across processes


class DivergenceReport(BaseModel):
    """Steps the guard flagged in one run: how many, the first, and the worst loss seen."""

    count: int = 0
    first_step: int | None = Field(default=None, description="counted from 1 (steps done)")
    worst_loss: float | None = None

    def __str__(self) -> str:
        if not self.count:
            return "no diverged steps"
        worst = "" if self.worst_loss is None else f", worst loss {self.worst_loss:.4g}"  # None: non-finite only
        steps = "step" if self.count == 1 else "steps"
        return f"{self.count} diverged {steps} (first at step {self.first_step}{worst})"


class DivergenceGuard:
    """A step diverges when its loss is non-finite or more than `factor` times the median of the last
    `window` losses. A non-finite loss stops the run at once (the weights would be lost); `patience`
    diverged steps in a row stop it too. `hint` names the settings to change in the stop message."""

    def __init__(self, label: str, factor: float, patience: int, window: int = 50, hint: str = "") -> None:
        self.label, self.factor, self.patience, self.hint = label, factor, patience, hint
        self.recent: deque[float] = deque(maxlen=window)
        self.report = DivergenceReport()
        self.in_a_row = 0

    def check(self, step: int, loss: float, where: str = "") -> bool:
        """Record `loss` at `step` (counted from 1: the steps done with this one, as curves and `best_step` count);
        True when the step diverged. Raises `TrainingDiverged` to stop the run."""
        finite = math.isfinite(loss)
        median = float(np.median(self.recent)) if self.recent else None
        diverged = not finite or (median is not None and loss > self.factor * median)
        if not diverged:
            self.recent.append(loss)
            self.in_a_row = 0
            return False
        r = self.report
        r.count += 1
        r.first_step = step if r.first_step is None else r.first_step
        if finite:
            r.worst_loss = loss if r.worst_loss is None else max(r.worst_loss, loss)
        self.in_a_row += 1
        if not finite:
            self._stop(step, loss, f"loss is {loss} at step {step}", where)
        if self.in_a_row >= self.patience:
            self._stop(
                step,
                loss,
                f"loss {loss:.4g} at step {step} is more than {self.factor:g}x the running median ({median:.4g}) "
                f"for {self.in_a_row} steps in a row",
                where,
            )
        return True

    def _stop(self, step: int, loss: float, detail: str, where: str) -> NoReturn:
        message = f"{self.label}: {detail}; training stopped{where}{self._hint()}"
        raise TrainingDiverged(message, step=step, loss=loss, detail=detail)

    def _hint(self) -> str:
        return f"; {self.hint}" if self.hint else ""
