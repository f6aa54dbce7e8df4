"""Scratch training holds its validation and test rows once per evaluator, the sparse ids in the data's stored
dtype (widened to int64 one batch at a time), and scores exactly as when every batch was held as int64."""

import numpy as np
import torch

from nasrec.data.batching import Batch
from nasrec.evaluators import FullTrain, TrainConfig, scoring
from nasrec.evaluators.full_train import _predict
from nasrec.genotype import sample
from tests.spaces import TINY


def int64_batches(data, split: str, batch_size: int) -> list[Batch]:
    """The batches as nasrec cut them before: every row's ids widened to int64 up front."""
    idx = data.split(split).indices
    dense = np.asarray(data.dense[idx])
    sparse = np.asarray(data.sparse[idx], dtype=np.int64)
    label = np.asarray(data.label[idx], dtype=np.float32)
    return [
        Batch(*(torch.from_numpy(a[i : i + batch_size]) for a in (dense, sparse, label)))
        for i in range(0, len(idx), batch_size)
    ]


def test_eval_rows_keep_the_stored_dtype_and_cut_the_same_batches():
    full = FullTrain(data="sample:criteo", cap=5000, eval_batch_size=500)
    rows = full.rows("valid")
    assert rows.sparse.dtype == full.data.sparse.dtype and rows.sparse.dtype.itemsize < 8
    expected = int64_batches(full.data, "valid", 500)
    got = list(rows.iter_batches())
    assert len(got) == len(expected) == 3
    for a, b in zip(got, expected, strict=True):
        for x, y in zip(a, b, strict=True):
            assert x.dtype == y.dtype and torch.equal(x, y)
    assert all(
        torch.equal(x, y) for a, b in zip(rows.batches, expected, strict=True) for x, y in zip(a, b, strict=True)
    )


def test_scratch_training_reads_its_rows_once_and_scores_as_before(monkeypatch):
    calls = []
    real = scoring.eval_rows
    monkeypatch.setattr(
        "nasrec.evaluators.full_train.eval_rows", lambda data, split, *a: calls.append(split) or real(data, split, *a)
    )
    recipe = TrainConfig(epochs=0.25, batch_size=256, min_warmup_steps=0, patience=2, eval_every=4)
    full = FullTrain(data="sample:criteo", cap=5000, seeds=2, train=recipe, min_gain=0.5, retries=0)
    g = sample(TINY, "single-operator-any-connection", 0)
    prediction = full.predict(g)
    full.predict(g)
    assert calls == ["valid"]  # one copy for the scoring, every validation, both seeds and the constant predictor
    test = FullTrain(data="sample:criteo", cap=5000, train=recipe, eval_split="test")
    test.evaluate([g, g])
    assert test._rows.keys() == {"valid", "test"} and calls == ["valid", "test", "valid"]

    model = full._train(g, prediction.score.runs[0].seed, "train", None, recipe)[0]
    z = _predict(model, full.rows("valid"), full.device)
    with torch.no_grad():
        before = torch.cat([model(b.dense, b.sparse).reshape(-1) for b in int64_batches(full.data, "valid", 4096)])
    assert np.array_equal(z, before.numpy().astype(np.float64))
    assert np.array_equal(z, prediction.logits[0])
