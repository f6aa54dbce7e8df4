"""The proxies score the validation rows batch by batch: the heads are fitted (or inherited) first, from the
training rows alone, then each validation batch is embedded once and every candidate's head applied to its head
inputs, only the logits kept. The same logits as concatenating every batch's head inputs first (as nasrec did
before), in memory that does not grow with the validation rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import nasrec.evaluators.proxy as proxy
from nasrec.compiler import SupernetView
from nasrec.evaluators import FinetunedProxy, SupernetProxy
from nasrec.genotype import sample
from tests.spaces import TINY

GENOTYPES = [sample(TINY, "single-operator-any-connection", [7, i]) for i in range(3)]
BATCH = 128
"""Validation batches of 128 rows: the bundled Criteo rows' 1,495 validation rows are 12 of them."""


def _make(ckpt: str, recipe: str | None, **config) -> SupernetProxy | FinetunedProxy:
    if recipe is None:
        return SupernetProxy(data="sample:criteo", supernet=ckpt, **config)
    return FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe=recipe, **config)


RECIPES = [None, "paper", "fast", "fast-std", "bias", "scale"]
IDS = ["supernet", "paper", "fast", "fast-std", "bias", "scale"]


@pytest.mark.parametrize("recipe", RECIPES, ids=IDS)
def test_streamed_logits_equal_the_concatenate_then_linear_ones(trained_supernet, recipe, monkeypatch):
    ckpt, _ = trained_supernet
    train = {"steps": 30} if recipe == "paper" else {"train_rows": 1024}
    evaluator = _make(ckpt, recipe, batch_size=BATCH, **({} if recipe is None else train))
    heads: list[tuple[torch.Tensor, torch.Tensor]] = []
    logits: list[np.ndarray] = []
    fit, score = type(evaluator)._heads, proxy.make_score

    def fitted(self, views, genotypes):  # the heads the evaluator scores with, recorded
        heads.extend(fit(self, views, genotypes))
        return heads[-len(views) :]

    def scored(genotype, spec, rows, z, *args):  # the logits it scores, recorded
        logits.append(z)
        return score(genotype, spec, rows, z, *args)

    monkeypatch.setattr(type(evaluator), "_heads", fitted)
    monkeypatch.setattr(proxy, "make_score", scored)
    scores = evaluator.evaluate(GENOTYPES)
    assert len(evaluator.valid) == 12 and all(len(z) == 1495 for z in logits)
    # the method before: every validation batch's head inputs concatenated, then each candidate's head
    views = [evaluator.supernet.view(g) for g in GENOTYPES]
    with torch.no_grad():
        feats = [torch.cat([v.head_inputs(evaluator._embed(b)) for b in evaluator.valid]) for v in views]
        before = [nn.functional.linear(x, w, b).squeeze(-1).numpy() for x, (w, b) in zip(feats, heads, strict=True)]
    for z, old in zip(logits, before, strict=True):
        np.testing.assert_allclose(z, old, rtol=0, atol=1e-6)
    assert len({round(s.log_loss, 6) for s in scores}) == len(GENOTYPES)  # the candidates really differ


class _LargestTensor(TorchDispatchMode):
    """Records the most elements of any tensor an operation allocates."""

    def __init__(self) -> None:
        super().__init__()
        self.numel = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not func.is_view:  # a view (a slice of a weight) allocates nothing
            self.numel = max([self.numel, *(t.numel() for t in tree_leaves(out) if isinstance(t, torch.Tensor))])
        return out


@pytest.mark.parametrize("recipe", [None, "fast-std", "paper"], ids=["supernet", "fast-std", "paper"])
def test_scoring_memory_is_one_batch_whatever_the_validation_rows(trained_supernet, recipe, monkeypatch):
    """Scored on the whole validation split (12 batches) or on one batch of it, no tensor is larger: none holds
    more than a batch of rows (the training rows here are one batch too, so that every tensor is)."""
    ckpt, _ = trained_supernet
    shapes: list[torch.Size] = []
    head_inputs = SupernetView.head_inputs

    def recorded(view: SupernetView, emb) -> torch.Tensor:
        x = head_inputs(view, emb)
        shapes.append(x.shape)
        return x

    monkeypatch.setattr(SupernetView, "head_inputs", recorded)
    largest = {}
    for valid_rows in (None, BATCH):
        train = {"steps": 2, "step_batch": BATCH // 2} if recipe == "paper" else {"train_rows": BATCH}
        evaluator = _make(ckpt, recipe, batch_size=BATCH, valid_rows=valid_rows, **({} if recipe is None else train))
        assert len(evaluator.valid) == (12 if valid_rows is None else 1)  # the rows read before counting
        evaluator.supernet  # noqa: B018 (loaded before counting)
        with _LargestTensor() as mode:
            evaluator.evaluate(GENOTYPES)
        largest[valid_rows] = mode.numel
    assert max(len(s) for s in shapes) <= BATCH
    assert largest[None] == largest[BATCH]
    assert largest[None] < 1495 * min(s[1] for s in shapes)  # below one candidate's head inputs for every row


def test_a_validation_cap_samples_rows_by_the_seed_and_one_above_the_split_scores_it_whole(trained_supernet):
    ckpt, _ = trained_supernet

    def labels(**config) -> np.ndarray:
        return _make(ckpt, "fast", **config).valid_rows.labels

    def rows(**config) -> np.ndarray:
        return torch.cat([b.dense for b in _make(ckpt, "fast", **config).valid]).numpy()

    whole = rows(valid_rows=None)
    assert len(whole) == 1495
    np.testing.assert_array_equal(rows(valid_rows=500_000, seed=3), whole)  # more than the split has: all of it
    np.testing.assert_array_equal(labels(valid_rows=500_000), labels(valid_rows=None))
    capped = rows(valid_rows=1000, seed=0)
    assert len(capped) == 1000 and len(labels(valid_rows=1000)) == 1000
    np.testing.assert_array_equal(rows(valid_rows=1000, seed=0), capped)  # the same rows for every candidate
    assert not np.array_equal(rows(valid_rows=1000, seed=1), capped)  # another seed, another sample
