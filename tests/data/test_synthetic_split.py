"""Synthetic data, and split invariants under hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasrec.data import DataError, PreparedData, make_synthetic, prepare, stratified_folds, write_criteo_tsv


def test_synthetic_shape_rate_determinism() -> None:
    a = make_synthetic(20_000, positive_rate=0.2, seed=3)
    assert len(a) == 20_000 and a.dense.shape == (20_000, 13) and a.sparse.shape == (20_000, 26)
    assert abs(a.positive_rate - 0.2) < 0.015
    assert (np.asarray(a.sparse).max(axis=0) < np.array(a.spec.cardinalities)).all()
    b = make_synthetic(20_000, positive_rate=0.2, seed=3)
    np.testing.assert_array_equal(a.sparse, b.sparse)
    np.testing.assert_array_equal(a.label, b.label)
    assert not np.array_equal(a.label, make_synthetic(20_000, positive_rate=0.2, seed=4).label)


def test_callable_teacher_and_custom_shape() -> None:
    def teacher(dense: np.ndarray, sparse: np.ndarray) -> np.ndarray:
        return 3.0 * (sparse[:, 0] % 2) - 1.5

    d = make_synthetic(10_000, n_dense=2, cardinalities=[5, 7, 100], positive_rate=0.4, seed=0, teacher=teacher)
    assert d.spec.n_dense == 2 and d.spec.cardinalities == (5, 7, 100)
    assert abs(d.positive_rate - 0.4) < 0.02
    odd = np.asarray(d.sparse)[:, 0] % 2 == 1
    assert np.asarray(d.label)[odd].mean() > np.asarray(d.label)[~odd].mean() + 0.3  # the teacher is learnt


def test_planted_signal_is_learnable() -> None:
    d = make_synthetic(5_000, seed=1)
    t = d.split("train")
    assert 0 < t.positive_rate < 1
    p, y = np.asarray(t.prob), np.asarray(t.label)
    assert p.std() > 0.2  # the teacher spreads the true probabilities (measured 0.31), not one rate for all
    # labels follow them: the top fifth of rows by true probability clicks far more than the bottom fifth
    hi, lo = p > np.quantile(p, 0.8), p < np.quantile(p, 0.2)
    assert y[hi].mean() > y[lo].mean() + 0.5  # measured 0.79 vs 0.00


def test_saved_synthetic_round_trips(tmp_path) -> None:
    mem = make_synthetic(3_000, seed=2)
    d = mem.save(tmp_path / "syn")
    assert d.path == tmp_path / "syn" and len(d) == 3_000 and len(d.split("test")) == 300
    for reopened in (d, PreparedData.open(tmp_path / "syn")):
        for name in ("dense", "sparse", "label", "folds", "prob"):
            saved, kept = np.asarray(getattr(reopened, name)), np.asarray(getattr(mem, name))
            assert saved.dtype == kept.dtype, name
            np.testing.assert_array_equal(saved, kept, err_msg=name)
        assert reopened.spec == mem.spec


def test_criteo_tsv_writer_reads_back(tmp_path) -> None:
    path = write_criteo_tsv(tmp_path / "syn.tsv.gz", 5_000, seed=1, positive_rate=0.3)
    data = prepare(path, "criteo", progress=False)
    assert len(data) == 5_000 and data.meta.bad_rows.total == 0
    assert abs(data.positive_rate - 0.3) < 0.03
    again = write_criteo_tsv(tmp_path / "again.tsv", 5_000, seed=1, positive_rate=0.3)
    import gzip

    assert gzip.decompress(path.read_bytes()) == again.read_bytes()


@settings(max_examples=60, deadline=None)
@given(n=st.integers(20, 400), p=st.floats(0.05, 0.95), seed=st.integers(0, 2**31 - 1))
def test_folds_partition_and_balance(n: int, p: float, seed: int) -> None:
    y = (np.random.default_rng(seed).random(n) < p).astype(np.float32)
    if min(int(y.sum()), n - int(y.sum())) < 10:
        y[:10], y[-10:] = 0, 1
    folds = stratified_folds(y)
    assert folds.shape == (n,) and set(np.unique(folds).tolist()) <= set(range(10))
    sizes = np.bincount(folds, minlength=10)
    assert sizes.sum() == n and sizes.max() - sizes.min() <= 2
    for c in (0, 1):
        per = np.bincount(folds[y == c], minlength=10)
        assert per.max() - per.min() <= 1  # each class spread over folds, sizes differ by at most 1


@settings(max_examples=25, deadline=None)
@given(n=st.integers(40, 300), seed=st.integers(0, 2**31 - 1), k=st.integers(2, 12))
def test_folds_equal_sklearn(n: int, seed: int, k: int) -> None:
    sk = pytest.importorskip("sklearn.model_selection")
    y = np.random.default_rng(seed).integers(0, 3, n)
    y[: 3 * k] = np.repeat(np.arange(3), k)  # every class has >= k members (sklearn warns otherwise)
    ref = np.empty(n, dtype=np.int64)
    for f, (_, test) in enumerate(sk.StratifiedKFold(k, shuffle=True, random_state=seed % 10_000).split(y, y)):
        ref[test] = f
    np.testing.assert_array_equal(stratified_folds(y, k, seed % 10_000), ref)


def test_too_few_rows() -> None:
    with pytest.raises(DataError, match="cannot be split"):
        stratified_folds(np.zeros(5))


def test_saving_over_prepared_data_is_refused_and_leaves_it_as_it_was(tmp_path) -> None:
    from nasrec.evaluators.oracle import make_oracle

    oracle = make_oracle(200, seed=0).save(tmp_path / "data")
    before = {p.name: p.read_bytes() for p in (tmp_path / "data").iterdir()}
    assert "prob.npy" in before
    with pytest.raises(DataError, match=r"data already exists; prepared data is never overwritten"):
        make_synthetic(300, seed=1).save(tmp_path / "data")
    assert {p.name: p.read_bytes() for p in (tmp_path / "data").iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no temporary folder left
    (tmp_path / "empty").mkdir()
    assert len(make_synthetic(300, seed=1).save(tmp_path / "empty")) == 300 and oracle.prob is not None
