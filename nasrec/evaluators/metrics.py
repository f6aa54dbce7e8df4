"""CTR metrics on numpy arrays: log loss, AUC (ties counted half), normalized entropy."""

from __future__ import annotations

import numpy as np

_EPS = 1e-7


def log_loss(labels: np.ndarray, probs: np.ndarray) -> float:
    p = np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1 - _EPS)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def log_loss_from_logits(labels: np.ndarray, logits: np.ndarray) -> float:
    """Numerically stable mean BCE on logits."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a random positive > score of a random negative), ties
    counted half (Mann-Whitney U with average ranks). NaN when only one class is present or a score is NaN."""
    y = np.asarray(labels).astype(bool).ravel()
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    x = np.asarray(scores, dtype=np.float64).ravel()  # [N] or [N, 1], as scipy's rankdata took them
    if n_pos == 0 or n_neg == 0 or np.isnan(x).any():
        return float("nan")
    ranks = average_ranks(x)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def tie_groups(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`x` (no NaN) sorted into groups of equal values: the sorting order, each group's first sorted position and
    its size."""
    order = np.argsort(x, kind="stable")
    ordered = x[order]
    first = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return order, first, np.diff(np.r_[first, len(x)])


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of `x` (no NaN), tied values sharing their mean rank: scipy.stats.rankdata's default, in
    numpy alone (importing scipy.stats costs every training process ~0.6 s)."""
    order, first, size = tie_groups(x)
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(first + (size + 1) / 2, size)  # a group of sorted positions a..a+size-1: mean rank
    return ranks


def normalized_entropy(labels: np.ndarray, logits: np.ndarray) -> float:
    """Log loss divided by the entropy of the positive rate (He et al., 2014): < 1 beats the base rate."""
    p = float(np.clip(np.mean(labels), _EPS, 1 - _EPS))
    base = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    return log_loss_from_logits(labels, logits) / base
