"""Uncertainty of CTR scores measured on the same rows: the standard error of one model's log loss, and paired
confidence intervals for the difference between two models in log loss and in AUC (a percentile bootstrap up
to `BOOTSTRAP_MAX_ROWS` test rows, analytic above: normal for log loss, DeLong for AUC); and across independent
runs (e.g. a benchmark's seeds), the Student-t interval of a mean.

Scores of models evaluated on the same test rows are strongly correlated (hard rows are hard for every model),
so the difference of two log losses is much better determined than either one: resampling rows *jointly*
(paired) uses that. The functions take labels (0 or 1) and logits (or per-row losses) as numpy arrays or lists, and
refuse, naming the argument, what would make their answer meaningless (`_checked`): a level outside (0, 1), no
resamples, other labels, NaN or infinite logits and losses (NaN scores, for an AUC).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel

from nasrec.evaluators.metrics import auc, tie_groups

# "auto" bootstraps up to this many test rows and is analytic above. CPU seconds per model pair at the final
# stage's defaults (3 seeds; 2000 log-loss and 500 AUC resamples; benchmarks/paired_intervals.py, one thread): the
# AUC bootstrap takes 23 s at 50,000 rows, 47 s at 100,000 and ~57 min at Criteo's 4.6M (the stage compares 5
# pairs: hours), the log-loss one ~2.5 min at 4.6M; normal and DeLong take 0.6 s and 7 s there, and agree with
# the bootstrap. Up to 40,000 rows (the committed runs have at most 20,000 test rows) the bootstrap stays under
# ~20 s a pair and draws the very resamples it drew before its chunks were bounded (200 a chunk up to 41,943).
BOOTSTRAP_MAX_ROWS = 40_000
_CHUNK_INDICES = 2**23  # int64 indices drawn at once by the log-loss bootstrap: 64 MB


class Interval(BaseModel):
    """`estimate` with a `level` confidence interval [`low`, `high`] over `rows` rows, computed by `method`
    ("bootstrap", "normal", "delong", "t"; files written before the field existed used the bootstrap)."""

    estimate: float
    low: float
    high: float
    level: float
    rows: int
    method: str = "bootstrap"

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


def _checked(
    fn: str,
    labels: ArrayLike | None = None,
    values: dict[str, ArrayLike] | None = None,
    *,
    level: float | None = None,
    n_resamples: int | None = None,
    ranked: bool = False,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The checks of every public function here (`fn`, named by the messages): `level` in (0, 1), `n_resamples` at
    least 1, `labels` 0 or 1, and the arrays of `values` (by the words messages name them with) finite, or only
    not NaN where they are `ranked` (an AUC ranks infinite scores). Returns the labels (empty where not given) and
    the values as float64 arrays."""
    if level is not None and not 0 < level < 1:
        raise ValueError(f"{fn}: level must be between 0 and 1, e.g. 0.95 (got {level!r})")
    if n_resamples is not None and (
        isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) or n_resamples < 1
    ):
        raise ValueError(f"{fn}: n_resamples must be an integer of at least 1 (got {n_resamples!r})")
    y = np.asarray([] if labels is None else labels, dtype=np.float64)
    if len(other := np.flatnonzero((y != 0) & (y != 1))):
        raise ValueError(
            f"{fn}: labels must be 0 or 1 (got {len(other)} other values, the first {y.flat[other[0]]:g} at row "
            f"{other[0]})"
        )
    arrays = []
    for name, value in (values or {}).items():
        a = np.asarray(value, dtype=np.float64)
        bad = int(np.count_nonzero(np.isnan(a) if ranked else ~np.isfinite(a)))
        if bad:
            why = "NaN values (no AUC ranks them)" if ranked else "NaN or infinite values"
            raise ValueError(f"{fn}: {name} hold {bad} {why}")
        arrays.append(a)
    return y, arrays


def _row_log_loss(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))


def row_log_loss(labels: ArrayLike, logits: ArrayLike) -> np.ndarray:
    """Per-row binary cross-entropy of logits (numerically stable); its mean is the log loss."""
    y, (z,) = _checked("row_log_loss", labels, {"logits": logits})
    return _row_log_loss(y, z)


def log_loss_se(labels: ArrayLike, logits: ArrayLike) -> float:
    """Standard error of the log loss over rows (rows treated as independent draws)."""
    y, (z,) = _checked("log_loss_se", labels, {"logits": logits})
    losses = _row_log_loss(y, z)
    return float(losses.std(ddof=1) / np.sqrt(len(losses)))


def _check(labels: np.ndarray, *arrays: np.ndarray) -> None:
    n = len(labels)
    if n < 2 or any(len(a) != n for a in arrays):
        raise ValueError(
            f"paired statistics need the same rows for every model (got {n} labels and "
            f"{[len(a) for a in arrays]} predictions)"
        )


def _method(method: str, rows: int, analytic: str) -> str:
    """The method `method` names for `rows` test rows: "auto" is the bootstrap up to `BOOTSTRAP_MAX_ROWS`."""
    allowed = ("auto", "bootstrap", analytic)
    if method not in allowed:
        raise ValueError(f"method must be one of {', '.join(map(repr, allowed))} (got {method!r})")
    if method == "auto":
        return "bootstrap" if rows <= BOOTSTRAP_MAX_ROWS else analytic
    return method


def _z(level: float) -> float:
    from scipy.stats import norm  # scipy.stats takes ~0.6 s to import: only when asked for

    return float(norm.ppf(0.5 + level / 2))


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
    labels: ArrayLike,
    logits_a: ArrayLike,
    logits_b: ArrayLike,
    *,
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    method: str = "auto",
) -> Interval:
    """Log loss of model a minus model b on the same rows, with a paired CI over rows (`paired_row_diff`).
    Negative: a is better. Logits may be [rows] or [seeds, rows] (seed i of a paired with seed i of b; each
    row's difference is averaged over seeds, so the interval is pooled over seeds and rows)."""
    y, (za, zb) = _checked(
        "paired_log_loss_diff",
        labels,
        {"model a's logits": logits_a, "model b's logits": logits_b},
        level=level,
        n_resamples=n_resamples,
    )
    za, zb = np.atleast_2d(za), np.atleast_2d(zb)
    _check_shapes(len(y), za.shape, zb.shape)
    _check(y, za[0], zb[0])
    losses_a = _row_log_loss(y[None, :], za).mean(axis=0)
    losses_b = _row_log_loss(y[None, :], zb).mean(axis=0)
    return _row_diff(losses_a, losses_b, level, n_resamples, seed, method)


def paired_row_diff(
    losses_a: ArrayLike,
    losses_b: ArrayLike,
    *,
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    method: str = "auto",
) -> Interval:
    """Mean of `losses_a - losses_b` (per-row losses of two models on the same rows) with a CI over rows:
    `method` "bootstrap" (percentile), "normal" (mean +- z * sd / sqrt(rows)) or "auto" (the bootstrap up to
    `BOOTSTRAP_MAX_ROWS` rows). Rows may be pooled over several runs (seeds) as long as a and b are aligned."""
    _, (a, b) = _checked(
        "paired_row_diff",
        values={"model a's losses": losses_a, "model b's losses": losses_b},
        level=level,
        n_resamples=n_resamples,
    )
    return _row_diff(a, b, level, n_resamples, seed, method)


def _row_diff(a: np.ndarray, b: np.ndarray, level: float, n_resamples: int, seed: int, method: str) -> Interval:
    """`paired_row_diff` of checked losses."""
    _check(a, b)
    d, n = a - b, len(a)
    how = _method(method, n, "normal")
    if np.all(d == d[0]):  # identical differences: the interval is degenerate
        return Interval(estimate=float(d[0]), low=float(d[0]), high=float(d[0]), level=level, rows=n, method=how)
    mean = float(d.mean())
    if how == "normal":
        half = _z(level) * float(d.std(ddof=1)) / np.sqrt(n)
        return Interval(estimate=mean, low=mean - half, high=mean + half, level=level, rows=n, method=how)
    rng = np.random.default_rng(seed)
    # 200 resamples at a time (fewer on many rows: at most _CHUNK_INDICES indices) bounds memory; up to
    # _CHUNK_INDICES / 200 rows this is the stream the bootstrap always drew
    chunk = max(1, min(200, _CHUNK_INDICES // n))
    means = np.concatenate(
        [d[rng.integers(0, n, (min(chunk, n_resamples - i), n))].mean(axis=1) for i in range(0, n_resamples, chunk)]
    )
    alpha = (1 - level) / 2
    low, high = float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))
    return Interval(estimate=mean, low=low, high=high, level=level, rows=n, method=how)


def paired_auc_diff(
    labels: ArrayLike,
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    *,
    level: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
    method: str = "auto",
) -> Interval:
    """AUC of model a minus model b on the same rows, with a paired CI. Positive: a ranks better. `method`
    "bootstrap": percentile bootstrap, rows resampled jointly with their label and both scores; "delong": DeLong's
    variance of the paired difference; "auto": the bootstrap up to `BOOTSTRAP_MAX_ROWS` rows. Scores may be
    [seeds, rows]: the statistic is then the mean over seeds of the AUC differences (on the same resampled rows)."""
    y, (sa, sb) = _checked(
        "paired_auc_diff",
        labels,
        {"model a's scores": scores_a, "model b's scores": scores_b},
        level=level,
        n_resamples=n_resamples,
        ranked=True,
    )
    sa, sb = np.atleast_2d(sa), np.atleast_2d(sb)
    _check_shapes(len(y), sa.shape, sb.shape)
    _check(y, sa[0], sb[0])
    how = _method(method, len(y), "delong")
    positives = int(np.count_nonzero(y))
    if positives in (0, len(y)):
        raise ValueError(
            f"paired_auc_diff needs both classes in the labels (got {positives} positives in {len(y)} rows)"
        )
    if method == "auto" and min(positives, len(y) - positives) < 2:
        how = "bootstrap"  # DeLong needs two rows of each class; the bootstrap skips the resamples lacking one
    if how == "delong":
        return _delong(y.astype(bool), sa, sb, level)

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
        method=how,
    )


def _placements(pos: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC of scores `s` (from midranks, summed as metrics.auc sums them) and its placements: for each positive
    the share of negatives scored below it, for each negative the share of positives above it (ties half). One
    sort: in Sun & Xu's terms a positive's placement is (midrank among all - midrank among positives) / n,
    counted here per tie group."""
    m = int(np.count_nonzero(pos))
    n = len(pos) - m
    order, first, size = tie_groups(s)  # each tie group's first sorted position and size
    positive = pos[order].astype(np.int64)
    pos_before = np.r_[0, np.cumsum(positive)][first]
    pos_in = np.add.reduceat(positive, first)
    group = np.empty(len(s), dtype=np.int64)
    group[order] = np.repeat(np.arange(len(first)), size)  # each row's tie group
    ranks = (first + (size + 1) / 2)[group]  # midranks: exact halves, the values scipy's rankdata gives
    g_pos, g_neg = group[pos], group[~pos]
    below = (first[g_pos] - pos_before[g_pos] + (size[g_pos] - pos_in[g_pos]) / 2) / n
    above = (m - pos_before[g_neg] - pos_in[g_neg] / 2) / m
    return float((ranks[pos].sum() - m * (m + 1) / 2) / (m * n)), below, above


def _delong(pos: np.ndarray, sa: np.ndarray, sb: np.ndarray, level: float) -> Interval:
    """DeLong et al. (1988): each AUC is the mean of its positives' placements and of its negatives'; the
    covariance of the AUCs is that of the placements over the m positives / m plus over the n negatives / n.
    The statistic is the mean over seeds of AUC_a - AUC_b, a contrast c of the 2 * seeds AUCs: c' S c is the
    variance of the same contrast of the placements, summed here as it goes. O(rows log rows) per score vector."""
    m, n, seeds = int(pos.sum()), int((~pos).sum()), len(sa)
    if min(m, n) < 2:
        raise ValueError(f"paired_auc_diff (delong) needs 2 rows of each class (got {m} positives in {m + n} rows)")
    place_pos, place_neg, aucs = np.zeros(m), np.zeros(n), []
    for sign, s in [(1, a) for a in sa] + [(-1, b) for b in sb]:
        area, below, above = _placements(pos, s)
        aucs.append(area)
        place_pos += sign / seeds * below
        place_neg += sign / seeds * above
    estimate = float(np.mean([a - b for a, b in zip(aucs[:seeds], aucs[seeds:], strict=True)]))
    half = _z(level) * float(np.sqrt(place_pos.var(ddof=1) / m + place_neg.var(ddof=1) / n))
    return Interval(
        estimate=estimate, low=estimate - half, high=estimate + half, level=level, rows=m + n, method="delong"
    )


def mean_and_spread(values: ArrayLike) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def mean_interval(values: ArrayLike, level: float = 0.95) -> Interval:
    """Student-t `level` interval of the mean of independent values (e.g. one difference per benchmark seed: the
    interval covers what varies between seeds, which a bootstrap over one set of test rows does not); `rows` is
    the number of values. Needs at least two."""
    from scipy import stats

    _, (v,) = _checked("mean_interval", values={"values": values}, level=level)
    if len(v) < 2:
        raise ValueError(f"mean_interval needs at least 2 values, got {len(v)}")
    mean, spread = mean_and_spread(v)
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1)) * spread / np.sqrt(len(v))
    return Interval(estimate=mean, low=mean - half, high=mean + half, level=level, rows=len(v), method="t")
