"""Ranking fidelity of proxy scores against a reference (full training): Kendall (with a bootstrap interval over
candidates, and a paired one for the difference of two proxies), Spearman, Pearson, top-k overlap."""

from __future__ import annotations

import warnings
from typing import Annotated

import numpy as np
from pydantic import BaseModel, BeforeValidator

from nasrec.errors import UsageError

Correlation = Annotated[float, BeforeValidator(lambda v: float("nan") if v is None else v)]
"""A correlation; NaN where it is undefined (a constant score list), written to JSON as null and read back."""


class RankAgreement(BaseModel):
    """How well `proxy` orders candidates like `reference` (lower is better for both, e.g. log loss). A
    proxy that gives every candidate the same score has no order: NaN correlations, no interval."""

    n: int
    kendall_tau: Correlation
    spearman_rho: Correlation
    pearson_r: Correlation
    top_k: int
    top_k_overlap: float
    kendall_low: float | None = None
    kendall_high: float | None = None


def top_k_overlap(proxy: np.ndarray, reference: np.ndarray, k: int) -> float:
    """Fraction of the reference's k best (lowest) candidates that are also among the proxy's k best."""
    k = min(k, len(proxy))
    best_proxy = set(np.argsort(proxy, kind="stable")[:k].tolist())
    best_ref = set(np.argsort(reference, kind="stable")[:k].tolist())
    return len(best_proxy & best_ref) / k


def _kendall(a, b) -> float:
    from scipy import stats  # scipy.stats takes ~0.6 s to import: not on every CLI command's path

    return stats.kendalltau(a, b).statistic


def kendall_tau(proxy, reference) -> float | None:
    """Kendall's tau-b of two equally long score lists; None where it is undefined (a constant list)."""
    tau = _kendall(proxy, reference)
    return None if np.isnan(tau) else float(tau)


def seed_taus(runs: np.ndarray) -> dict[str, float | None]:
    """A reference's own noise as a ranking, from `runs` [candidates, seeds]: Kendall tau of every two seeds
    ('0-1') and of each seed against the mean of the others ('0-rest'); None where undefined."""
    seeds = range(runs.shape[1])
    out = {f"{a}-{b}": kendall_tau(runs[:, a], runs[:, b]) for a in seeds for b in seeds if a < b}
    return out | {f"{a}-rest": kendall_tau(runs[:, a], np.delete(runs, a, axis=1).mean(axis=1)) for a in seeds}


def _bootstrap_interval(statistic, n: int, level: float, n_resamples: int, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic(idx)` over `n` candidates resampled with replacement
    (resamples where it is undefined are dropped; NaN, NaN when it is undefined in every one)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_resamples):
        value = statistic(rng.integers(0, n, n))
        if np.isfinite(value):
            values.append(value)
    if not values:
        return float("nan"), float("nan")
    alpha = (1 - level) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def kendall_interval(
    proxy, reference, level: float = 0.95, n_resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of Kendall's tau over candidates (resampled with replacement)."""
    proxy, reference = np.asarray(proxy, dtype=float), np.asarray(reference, dtype=float)

    def tau(idx):
        return _kendall(proxy[idx], reference[idx])

    return _bootstrap_interval(tau, len(proxy), level, n_resamples, seed)


def kendall_difference(
    a, b, reference, level: float = 0.95, n_resamples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """tau(a, reference) - tau(b, reference) for two proxies of the same candidates, with its paired percentile
    bootstrap interval (the same resampled candidates for both): (difference, low, high)."""
    a, b, reference = (np.asarray(x, dtype=float) for x in (a, b, reference))
    if not a.shape == b.shape == reference.shape or a.ndim != 1 or len(a) < 3:
        raise UsageError(
            f"need three equal-length score lists of at least 3 candidates, got {a.shape}, {b.shape}, {reference.shape}"
        )

    def difference(idx):
        return _kendall(a[idx], reference[idx]) - _kendall(b[idx], reference[idx])

    low, high = _bootstrap_interval(difference, len(a), level, n_resamples, seed)
    return float(difference(np.arange(len(a)))), low, high


def agreement(proxy, reference, k: int = 5) -> RankAgreement:
    proxy, reference = np.asarray(proxy, dtype=float), np.asarray(reference, dtype=float)
    if proxy.shape != reference.shape or proxy.ndim != 1 or len(proxy) < 3:
        raise UsageError(
            f"need two equal-length score lists of at least 3 candidates, got {proxy.shape} and {reference.shape}"
        )
    from scipy import stats

    with warnings.catch_warnings():  # a constant list: NaN, said by the result itself
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        rho, r = stats.spearmanr(proxy, reference).statistic, stats.pearsonr(proxy, reference).statistic
    return RankAgreement(
        n=len(proxy),
        kendall_tau=float(_kendall(proxy, reference)),
        spearman_rho=float(rho),
        pearson_r=float(r),
        top_k=min(k, len(proxy)),
        top_k_overlap=top_k_overlap(proxy, reference, k),
        **{
            key: value if np.isfinite(value) else None
            for key, value in zip(("kendall_low", "kendall_high"), kendall_interval(proxy, reference), strict=True)
        },
    )
