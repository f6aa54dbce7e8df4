"""Uncertainty of CTR scores measured on the same rows: the standard error of one model's log loss, and paired
percentile-bootstrap confidence intervals for the difference between two models in log loss and in AUC; and
across independent runs (e.g. a benchmark's seeds), the Student-t interval of a mean.

Scores of models evaluated on the same test rows are strongly correlated (hard rows are hard for every model),
so the difference of two log losses is much better determined than either one: resampling rows *jointly*
(paired) uses that. All functions take labels and logits (or per-row losses) as numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from nasrec.evaluators.metrics import auc


class Interval(BaseModel):
    """`estimate` with a `level` confidence interval [`low`, `high`] over `rows` rows."""

    estimate: float
    low: float
    high: float
    level: float
    rows: int

    @property
    def excludes_zero(self) -> bool:
        return self.high < 0 or self.low > 0

    def __str__(self) -> str:
        return f"{_signed(self.estimate)} [{_signed(self.low)}, {_signed(self.high)}]"


def _signed(value: float) -> str:
    """`value` with a sign and 4 decimals; one that would print as 0.0000 but is not zero with 3 significant digits
    (a bound of -3.36e-05 excludes zero; -0.0000 reads as touching it)."""
    text = f"{value:+.4f}"
    return f"{value:+.3g}" if value != 0 and float(text) == 0 else text


def row_log_loss(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Per-row binary cross-entropy of logits (numerically stable); its mean is the log loss."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))


def log_loss_se(labels: np.ndarray, logits: np.ndarray) -> float:
    """Standard error of the log loss over rows (rows treated as independent draws)."""
    losses = row_log_loss(labels, logits)
    return float(losses.std(ddof=1) / np.sqrt(len(losses)))


def _check(labels: np.ndarray, *arrays: np.ndarray) -> None:
    n = len(labels)
    if n < 2 or any(len(a) != n for a in arrays):
        raise ValueError(
            f"paired statistics need the same rows for every model (got {n} labels and "
            f"{[len(a) for a in arrays]} predictions)"
        )


def _check_shapes(n: int, a: tuple[int, ...], b: tuple[int, ...]) -> None:
    """Two models' predictions must pair up: the same rows and, as [seeds, rows], the same number of seeds."""
    if a[-1] != b[-1]:
        raise ValueError(
            f"paired statistics need the same rows for every model (got {n} labels and {[a[-1], b[-1]]} predictions)"
        )
    if a != b:
        raise ValueError(
            f"paired statistics need the same seeds for both models (got predictions of shapes {a} and {b})"
        )


def paired_log_loss_diff(
    labels: np.ndarray,
    logits_a: np.ndarray,
    logits_b: np.ndarray,
    *,
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Log loss of model a minus model b on the same rows, with a paired percentile bootstrap CI over rows.
    Negative: a is better. Logits may be [rows] or [seeds, rows] (seed i of a paired with seed i of b; each
    row's difference is averaged over seeds, so the interval is pooled over seeds and rows)."""
    za, zb = np.atleast_2d(logits_a), np.atleast_2d(logits_b)
    _check_shapes(len(labels), za.shape, zb.shape)
    _check(labels, za[0], zb[0])
    losses_a = row_log_loss(labels[None, :], za).mean(axis=0)
    losses_b = row_log_loss(labels[None, :], zb).mean(axis=0)
    return paired_row_diff(losses_a, losses_b, level=level, n_resamples=n_resamples, seed=seed)


def paired_row_diff(
    losses_a: np.ndarray, losses_b: np.ndarray, *, level: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> Interval:
    """Mean of `losses_a - losses_b` (per-row losses of two models on the same rows) with a bootstrap CI over
    rows. Rows may be pooled over several runs (seeds) as long as a and b are aligned."""
    a, b = np.asarray(losses_a, dtype=np.float64), np.asarray(losses_b, dtype=np.float64)
    _check(a, b)
    d = a - b
    if np.all(d == d[0]):  # identical differences: the bootstrap distribution is degenerate
        return Interval(estimate=float(d[0]), low=float(d[0]), high=float(d[0]), level=level, rows=len(d))
    rng = np.random.default_rng(seed)
    means = np.concatenate(
        [
            d[rng.integers(0, len(d), (min(200, n_resamples - i), len(d)))].mean(axis=1)
            for i in range(0, n_resamples, 200)
        ]
    )  # 200 resamples at a time bounds memory
    alpha = (1 - level) / 2
    return Interval(
        estimate=float(d.mean()),
        low=float(np.quantile(means, alpha)),
        high=float(np.quantile(means, 1 - alpha)),
        level=level,
        rows=len(d),
    )


def paired_auc_diff(
    labels: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    *,
    level: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> Interval:
    """AUC of model a minus model b on the same rows, with a paired (percentile) bootstrap CI: rows are
    resampled jointly with their label and both scores. Positive: a ranks better. Scores may be [seeds, rows]:
    the statistic is then the mean over seeds of the AUC differences, on the same resampled rows."""
    y = np.asarray(labels)
    sa, sb = (
        np.atleast_2d(np.asarray(scores_a, dtype=np.float64)),
        np.atleast_2d(np.asarray(scores_b, dtype=np.float64)),
    )
    _check_shapes(len(y), sa.shape, sb.shape)
    _check(y, sa[0], sb[0])
    positives = int(np.count_nonzero(y))
    if positives in (0, len(y)):
        raise ValueError(
            f"paired_auc_diff needs both classes in the labels (got {positives} positives in {len(y)} rows)"
        )

    def stat(idx: np.ndarray) -> float:
        return float(np.mean([auc(y[idx], a[idx]) - auc(y[idx], b[idx]) for a, b in zip(sa, sb, strict=True)]))

    rng = np.random.default_rng(seed)
    diffs = np.asarray([stat(rng.integers(0, len(y), len(y))) for _ in range(n_resamples)])
    diffs = diffs[np.isfinite(diffs)]  # a resample of one class has no AUC
    if not len(diffs):
        raise ValueError(f"paired_auc_diff: every one of {n_resamples} resamples of {len(y)} rows drew one class")
    alpha = (1 - level) / 2
    return Interval(
        estimate=stat(np.arange(len(y))),
        low=float(np.quantile(diffs, alpha)),
        high=float(np.quantile(diffs, 1 - alpha)),
        level=level,
        rows=len(y),
    )


def mean_and_spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def mean_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Student-t `level` interval of the mean of independent values (e.g. one difference per benchmark seed: the
    interval covers what varies between seeds, which a bootstrap over one set of test rows does not); `rows` is
    the number of values. Needs at least two."""
    from scipy import stats

    if len(values) < 2:
        raise ValueError(f"mean_interval needs at least 2 values, got {len(values)}")
    mean, spread = mean_and_spread(values)
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1)) * spread / np.sqrt(len(values))
    return Interval(estimate=mean, low=mean - half, high=mean + half, level=level, rows=len(values))
