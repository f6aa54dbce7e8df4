"""The bundled real rows: counts, positive rates, specs, stratified splits, determinism, sklearn parity."""

from __future__ import annotations

import numpy as np
import pytest

from nasrec.data import FeatureSpec, load_sample, prepare
from nasrec.data.samples import CRITEO_HEAD, sample_file
from nasrec.data.split import stratified_folds

EXPECTED = {
    "criteo-head": (10_000, 0.2182),
    "criteo-scattered": (4_370, 0.2474),
    "avazu": (9_999, 0.1706),
    "criteo": (14_949, None),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_rows_and_positive_rate(name: str) -> None:
    data = load_sample(name)
    rows, rate = EXPECTED[name]
    assert len(data) == rows == data.meta.rows
    assert data.meta.bad_rows.total == 0
    if rate is not None:
        assert round(data.positive_rate, 4) == rate
    assert data.dense.dtype == np.float32 and data.label.dtype == np.float32
    assert data.sparse.shape == (rows, data.spec.n_sparse)
    assert np.issubdtype(data.sparse.dtype, np.integer)
    assert (data.sparse.min(axis=0) >= 0).all()
    # exact upper bounds: vocab encoding gives the kept values ids 2, 3, ... (cardinality 2 + kept values), each
    # seen in the rows, so the largest id is the cardinality - 1 (no table row that no row uses)
    np.testing.assert_array_equal(data.sparse.max(axis=0) + 1, data.spec.cardinalities)


def test_criteo_combined_is_head_then_scattered_then_the_other_sources() -> None:
    both, head, scat = load_sample("criteo"), load_sample("criteo-head"), load_sample("criteo-scattered")
    assert len(both) == 14_949  # 10,000 + 4,370 + 400 (PaddleRec) + 179 (DeepCTR rows in no other file)
    assert round(both.positive_rate, 4) == round((2182 + 0.2474 * 4370 + 118 + 42) / 14_949, 4)
    np.testing.assert_array_equal(both.label[:14_370], np.concatenate([head.label, scat.label]))
    np.testing.assert_array_equal(both.dense[:14_370], np.concatenate([head.dense, scat.dense]))


def test_criteo_spec() -> None:
    spec = load_sample("criteo").spec
    assert spec.dense_names == tuple(f"I{i}" for i in range(1, 14))
    assert spec.sparse_names == tuple(f"C{i}" for i in range(1, 27))
    assert spec.n_dense == 13 and spec.n_sparse == 26 and spec.embedding_dim == 16


def test_avazu_spec() -> None:
    data = load_sample("avazu")
    spec = data.spec
    assert spec.dense_names == ("constant",) and spec.n_sparse == 23 and spec.sparse_names[0] == "id"
    assert spec.label_name == "click"
    assert (np.asarray(data.dense) == 0.0).all()  # the reference's constant
    assert spec.cardinalities[spec.sparse_names.index("hour")] == 3  # missing, other, the one hour


def test_first_criteo_row_values() -> None:
    data = load_sample("criteo-head")
    raw = [1, 1, 5, 0, 1382, 4, 15, 2, 181, 1, 2, None, 2]  # first line of train.txt
    expect = np.log1p([0 if v is None else v for v in raw]).astype(np.float32)
    np.testing.assert_allclose(data.dense[0], expect, rtol=1e-6)
    assert data.label[0] == 0
    assert data.sparse[0, 25 - 4] == 0  # C22 is empty in that line


def test_spec_saved_beside_arrays() -> None:
    data = load_sample("criteo-head")
    assert data.path is not None
    assert FeatureSpec.load(data.path / "spec.json") == data.spec


@pytest.mark.parametrize("name", ["criteo-head", "criteo-scattered", "avazu"])
def test_split_sizes_and_stratification(name: str) -> None:
    data = load_sample(name)
    n = len(data)
    sizes = {s: len(data.split(s)) for s in ("train", "valid", "test")}
    assert sum(sizes.values()) == n
    assert abs(sizes["valid"] - n / 10) <= 1 and abs(sizes["test"] - n / 10) <= 1
    for s in ("train", "valid", "test"):
        part = data.split(s)
        assert abs(part.positive_rate - data.positive_rate) <= max(0.001, 1 / len(part))
    label = np.asarray(data.label)
    for k in range(10):  # stratified: each fold's positives within one row of the overall rate
        in_fold = data.folds == k
        assert abs(label[in_fold].sum() - data.positive_rate * in_fold.sum()) <= 1
    if name == "criteo-head":
        assert sizes == {"train": 8000, "valid": 1000, "test": 1000}
    idx = np.concatenate([data.split(s).indices for s in ("train", "valid", "test")])
    assert np.array_equal(np.sort(idx), np.arange(n))


@pytest.mark.parametrize("name", ["criteo", "avazu"])
def test_split_equals_sklearn(name: str) -> None:
    sk = pytest.importorskip("sklearn.model_selection")
    labels = np.asarray(load_sample(name).label)
    ref = np.empty(len(labels), dtype=np.int64)
    skf = sk.StratifiedKFold(10, shuffle=True, random_state=2018)
    for k, (_, test) in enumerate(skf.split(np.zeros(len(labels)), labels)):
        ref[test] = k
    np.testing.assert_array_equal(stratified_folds(labels), ref)
    np.testing.assert_array_equal(load_sample(name).folds, ref)


def test_labels_stay_with_their_rows() -> None:
    data = load_sample("criteo-head")
    test = data.split("test")
    np.testing.assert_array_equal(test.label, np.asarray(data.label)[test.indices])
    np.testing.assert_array_equal(test.dense, np.asarray(data.dense)[test.indices])


def test_two_preparations_are_byte_identical(tmp_path) -> None:
    src = sample_file(CRITEO_HEAD)
    a = prepare(src, "criteo", out=tmp_path / "a", progress=False)
    b = prepare(src, "criteo", out=tmp_path / "b", progress=False)
    for name in ("dense", "sparse", "label", "folds"):
        assert (tmp_path / "a" / f"{name}.npy").read_bytes() == (tmp_path / "b" / f"{name}.npy").read_bytes()
    assert (tmp_path / "a" / "spec.json").read_text() == (tmp_path / "b" / "spec.json").read_text()
    assert a.spec == b.spec


def test_hash_encoding_uses_table_sizes(tmp_path) -> None:
    from nasrec.data.spec import CRITEO_CARDINALITIES

    data = prepare(sample_file(CRITEO_HEAD), "criteo", encoding="hash", out=tmp_path / "h", progress=False)
    assert data.spec.cardinalities == CRITEO_CARDINALITIES
    assert data.sparse.dtype == np.int32
    assert (data.sparse.max(axis=0) < np.array(CRITEO_CARDINALITIES)).all()
    # index = int(hex) mod (C - 1) + 1: first row's C1 is 68fd1e64
    assert data.sparse[0, 0] == 0x68FD1E64 % (CRITEO_CARDINALITIES[0] - 1) + 1


def test_vocab_min_count(tmp_path) -> None:
    src = sample_file(CRITEO_HEAD)
    one = prepare(src, "criteo", min_count=1, out=tmp_path / "m1", progress=False)
    two = prepare(src, "criteo", min_count=2, out=tmp_path / "m2", progress=False)
    assert all(a >= b for a, b in zip(one.spec.cardinalities, two.spec.cardinalities, strict=True))
    assert (np.asarray(one.sparse) != 1).all()  # nothing is rare at min_count 1
    assert ((np.asarray(one.sparse) == 0) == (np.asarray(two.sparse) == 0)).all()  # same missing cells
