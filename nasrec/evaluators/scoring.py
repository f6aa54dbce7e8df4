"""Pieces shared by the evaluators: validation subsets, cost of a genotype, building a Score."""

from __future__ import annotations

import numpy as np
import torch

from nasrec.compiler import cost
from nasrec.data import PreparedData
from nasrec.data.batching import Batch
from nasrec.data.spec import FeatureSpec
from nasrec.evaluators.base import Score
from nasrec.evaluators.metrics import auc, log_loss_from_logits
from nasrec.genotype import Genotype


def subset_batches(data: PreparedData, split: str, rows: int | None, batch_size: int, seed: int = 0) -> list[Batch]:
    """A fixed subset of a split (the first `rows` of a seeded permutation; all rows when None), as batches
    held in memory so every candidate sees exactly the same rows."""
    part = data.split(split)
    idx = part.indices
    if rows is not None and rows < len(idx):
        idx = np.sort(np.random.default_rng(seed).permutation(idx)[:rows])
    dense, sparse, label = (np.asarray(data.dense[idx]), np.asarray(data.sparse[idx], dtype=np.int64),
                            np.asarray(data.label[idx], dtype=np.float32))
    return [Batch(torch.from_numpy(dense[i:i + batch_size]), torch.from_numpy(sparse[i:i + batch_size]),
                  torch.from_numpy(label[i:i + batch_size])) for i in range(0, len(idx), batch_size)]


_COSTS: dict[tuple[str, int, int, int], tuple[int, int]] = {}


def flops_and_params(genotype: Genotype, spec: FeatureSpec) -> tuple[int, int]:
    """Multiply-adds per example and dense parameters of `genotype`'s standalone model (LayerNorm on),
    cached by the architecture's digest (labels such as `meta` or `space` do not change the cost)."""
    key = (genotype.digest(), spec.n_dense, spec.n_sparse, spec.embedding_dim)
    if key not in _COSTS:
        shape = FeatureSpec.synthetic(spec.n_dense, [2] * spec.n_sparse, embedding_dim=spec.embedding_dim)
        c = cost(genotype, shape)  # FLOPs and dense params do not depend on table sizes
        _COSTS[key] = c.flops, c.dense_params
    return _COSTS[key]


def make_score(genotype: Genotype, spec: FeatureSpec, labels: np.ndarray, logits: np.ndarray, seconds: float,
               evaluator: str, config: dict) -> Score:
    flops, params = flops_and_params(genotype, spec)
    return Score(log_loss=log_loss_from_logits(labels, logits), auc=auc(labels, logits), examples=int(len(labels)),
                 flops=flops, params=params, seconds=seconds, evaluator=evaluator, config=config)
