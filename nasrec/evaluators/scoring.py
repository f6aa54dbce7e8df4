"""Pieces shared by the evaluators: the rows a score is measured on (with true probabilities on oracle
data), cost of a genotype, building a Score."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from nasrec.compiler import cost
from nasrec.data import PreparedData
from nasrec.data.batching import Batch
from nasrec.data.spec import FeatureSpec
from nasrec.evaluators.base import Score, SeedRun
from nasrec.evaluators.metrics import auc, log_loss_from_logits
from nasrec.evaluators.stats import mean_and_spread
from nasrec.genotype import Genotype


@dataclass(frozen=True, eq=False)
class EvalRows:
    """Rows a score is measured on, held in memory: their features (the sparse ids in the data's stored dtype, often
    int16 or int32: a quarter or half of int64), their labels, and (oracle data) the true click probabilities.
    `iter_batches` cuts batches of `batch_size` rows, widening each batch's ids to int64 as it is made."""

    dense: np.ndarray
    sparse: np.ndarray
    labels: np.ndarray
    probs: np.ndarray | None
    batch_size: int

    def iter_batches(self) -> Iterator[Batch]:
        """The rows in batches, in order; only the batch being used holds int64 ids."""
        for i in range(0, len(self.labels), self.batch_size):
            yield _batch(self.dense, self.sparse, self.labels, slice(i, i + self.batch_size))

    @cached_property
    def batches(self) -> list[Batch]:
        """Every batch, held (int64 ids for all rows, kept): for a caller that goes over the rows many times and
        would rather not widen them again; `iter_batches` holds one batch at a time."""
        return list(self.iter_batches())


def _subset(data: PreparedData, split: str, rows: int | None, seed: int) -> np.ndarray:
    idx = data.split(split).indices
    if rows is not None and rows < len(idx):
        idx = np.sort(np.random.default_rng(seed).permutation(idx)[:rows])
    return idx


def eval_rows(data: PreparedData, split: str, batch_size: int, rows: int | None = None, seed: int = 0) -> EvalRows:
    """A fixed subset of a split (the first `rows` of a seeded permutation; all rows when None), so every
    candidate is scored on exactly the same rows."""
    idx = _subset(data, split, rows, seed)
    probs = None if data.prob is None else np.asarray(data.prob[idx], dtype=np.float64)
    labels = np.asarray(data.label[idx], dtype=np.float64)
    return EvalRows(np.asarray(data.dense[idx]), np.asarray(data.sparse[idx]), labels, probs, batch_size)


def subset_batches(data: PreparedData, split: str, rows: int | None, batch_size: int, seed: int = 0) -> list[Batch]:
    """The batches of `eval_rows` (labels included), held in memory."""
    return eval_rows(data, split, batch_size, rows, seed).batches


def _batch(dense: np.ndarray, sparse: np.ndarray, labels: np.ndarray, rows: slice) -> Batch:
    """One batch: float32 features and labels, int64 ids (the labels' float32 values are the data's: 0/1)."""
    return Batch(
        torch.from_numpy(dense[rows]),
        torch.from_numpy(sparse[rows].astype(np.int64)),
        torch.from_numpy(labels[rows].astype(np.float32)),
    )


def _entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return -(p * np.log(p) + (1 - p) * np.log1p(-p))


def expected_log_loss(probs: np.ndarray, logits: np.ndarray) -> float:
    """Cross-entropy of predicted logits against true click probabilities: the log loss with no label noise."""
    z = np.asarray(logits, dtype=np.float64)
    log_q, log_1q = -np.logaddexp(0, -z), -np.logaddexp(0, z)  # log sigmoid(z), log (1 - sigmoid(z))
    return float(np.mean(-(probs * log_q + (1 - probs) * log_1q)))


def bayes_rate(probs: np.ndarray) -> float:
    """The lowest expected log loss any model can reach: the mean entropy of the true probabilities."""
    return float(np.mean(_entropy(np.asarray(probs, dtype=np.float64))))


def oracle_metrics(rows: EvalRows, logits: np.ndarray) -> dict[str, float]:
    """`expected_log_loss` and `regret` (>= 0; 0 only for the true probabilities) where rows carry them."""
    if rows.probs is None:
        return {}
    expected = expected_log_loss(rows.probs, logits)
    return {"expected_log_loss": expected, "regret": expected - bayes_rate(rows.probs)}


_COSTS: dict[tuple[str, int, int, int, bool, bool], tuple[int, int]] = {}


def flops_and_params(
    genotype: Genotype, spec: FeatureSpec, layernorm: bool = True, norm_raw_fm: bool = False
) -> tuple[int, int]:
    """FLOPs per example and dense parameters of `genotype`'s standalone model (with or without its LayerNorms
    and the raw FM term's, as built), cached by the architecture's digest (labels such as `meta` or `space` do not
    change the cost). The FLOPs are `Cost.flops`: one per multiply-add of the matrix products and the attention
    core, plus one per element of the element-wise products, sums and differences (not only multiply-adds)."""
    key = (genotype.digest(), spec.n_dense, spec.n_sparse, spec.embedding_dim, layernorm, norm_raw_fm)
    if key not in _COSTS:
        shape = FeatureSpec.synthetic(spec.n_dense, [2] * spec.n_sparse, embedding_dim=spec.embedding_dim)
        c = cost(genotype, shape, layernorm, norm_raw_fm)  # FLOPs and dense params do not depend on table sizes
        _COSTS[key] = c.flops, c.dense_params
    return _COSTS[key]


def make_score(
    genotype: Genotype,
    spec: FeatureSpec,
    rows: EvalRows,
    logits: np.ndarray,
    seconds: float,
    evaluator: str,
    config: dict,
    layernorm: bool = True,
    norm_raw_fm: bool = False,
) -> Score:
    """A Score of one prediction of `rows` by the model built with or without its LayerNorms (`layernorm`,
    `norm_raw_fm`)."""
    flops, params = flops_and_params(genotype, spec, layernorm, norm_raw_fm)
    return Score(
        log_loss=log_loss_from_logits(rows.labels, logits),
        auc=auc(rows.labels, logits),
        examples=len(rows.labels),
        flops=flops,
        params=params,
        seconds=seconds,
        evaluator=evaluator,
        config=config,
        **oracle_metrics(rows, logits),
    )


def score_from_runs(
    genotype: Genotype,
    spec: FeatureSpec,
    runs: list[SeedRun],
    rows: EvalRows,
    seconds: float,
    evaluator: str,
    config: dict,
    layernorm: bool = True,
    norm_raw_fm: bool = False,
) -> Score:
    """A Score averaging several seeds' runs (mean log loss, AUC, regret; spread of the log loss) of the model
    built with or without its LayerNorms (`layernorm`, `norm_raw_fm`)."""
    flops, params = flops_and_params(genotype, spec, layernorm, norm_raw_fm)
    loss, spread = mean_and_spread([r.log_loss for r in runs])
    extra = {}
    if rows.probs is not None:
        extra = {
            "expected_log_loss": float(np.mean([r.expected_log_loss for r in runs])),
            "regret": float(np.mean([r.regret for r in runs])),
        }
    return Score(
        log_loss=loss,
        auc=float(np.mean([r.auc for r in runs])),
        log_loss_std=spread,
        examples=len(rows.labels),
        flops=flops,
        params=params,
        seconds=seconds,
        evaluator=evaluator,
        config=config,
        runs=runs,
        **extra,
    )
