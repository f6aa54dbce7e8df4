"""Batches: shapes, dtypes, coverage, seeded shuffling, drop_last, DataLoader workers, sharding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from nasrec.data import iter_batches, load_sample, make_synthetic


@pytest.fixture(scope="module")
def arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = 1_003
    dense = np.arange(n, dtype=np.float32)[:, None].repeat(3, axis=1)
    sparse = np.arange(n, dtype=np.int16)[:, None].repeat(2, axis=1)
    return dense, sparse, (np.arange(n) % 2).astype(np.float32)


def _rows(batches) -> np.ndarray:
    return np.concatenate([b.dense[:, 0].numpy() for b in batches]).astype(np.int64)


def test_shapes_and_dtypes() -> None:
    data = load_sample("criteo-head")
    b = next(iter(data.split("train").batches(512)))
    assert b.dense.shape == (512, 13) and b.dense.dtype == torch.float32
    assert b.sparse.shape == (512, 26) and b.sparse.dtype == torch.int64
    assert b.label.shape == (512,) and b.label.dtype == torch.float32


def test_every_row_once_in_order(arrays) -> None:
    bs = list(iter_batches(*arrays, batch_size=100))
    assert [len(b.label) for b in bs] == [100] * 10 + [3]
    assert np.array_equal(_rows(bs), np.arange(1_003))
    assert np.array_equal(np.concatenate([b.sparse[:, 1].numpy() for b in bs]), np.arange(1_003))


def test_split_batches_follow_split_rows() -> None:
    data = load_sample("criteo-head")
    test = data.split("test")
    got = torch.cat([b.label for b in test.batches(128)]).numpy()
    np.testing.assert_array_equal(got, test.label)
    dense = torch.cat([b.dense for b in test.batches(128, shuffle=True, seed=3)]).numpy()
    assert sorted(map(tuple, dense.tolist())) == sorted(map(tuple, test.dense.tolist()))


def test_shuffle_seeded_and_per_epoch(arrays) -> None:
    e0 = _rows(iter_batches(*arrays, batch_size=64, shuffle=True, seed=7, epoch=0))
    again = _rows(iter_batches(*arrays, batch_size=64, shuffle=True, seed=7, epoch=0))
    e1 = _rows(iter_batches(*arrays, batch_size=64, shuffle=True, seed=7, epoch=1))
    other = _rows(iter_batches(*arrays, batch_size=64, shuffle=True, seed=8, epoch=0))
    assert np.array_equal(e0, again)
    assert not np.array_equal(e0, e1) and not np.array_equal(e0, other)
    for order in (e0, e1, other):
        assert np.array_equal(np.sort(order), np.arange(1_003))


def test_drop_last(arrays) -> None:
    bs = list(iter_batches(*arrays, batch_size=100, drop_last=True))
    assert len(bs) == 10 and all(len(b.label) == 100 for b in bs)
    idx = np.arange(0, 1_003, 2)
    bs = list(iter_batches(*arrays, batch_size=100, indices=idx, shuffle=True, drop_last=True))
    assert len(bs) == 5 and set(_rows(bs)) <= set(idx.tolist())


def test_shards_partition_batches(arrays) -> None:
    parts = [_rows(iter_batches(*arrays, batch_size=50, shuffle=True, seed=1, shard=k, num_shards=3)) for k in range(3)]
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(1_003))


@pytest.mark.filterwarnings("ignore:This DataLoader will create 2 worker processes:UserWarning")  # on 1 CPU
def test_dataloader_two_workers_cover_all_rows_once() -> None:
    data = load_sample("criteo-head")
    train = data.split("train")
    ds = train.dataset(batch_size=256, shuffle=True, seed=5)
    ds.set_epoch(2)
    loader = DataLoader(ds, batch_size=None, num_workers=2)
    labels, dense = [], []
    for b in loader:
        labels.append(b.label)
        dense.append(b.dense)
    assert len(labels) == len(ds) == 32
    got = torch.cat(dense).numpy()
    want = train.dense
    assert got.shape == want.shape
    assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, want.tolist()))


def test_dataset_ranks_partition(arrays) -> None:
    data = make_synthetic(2_000, seed=0)
    seen = []
    for rank in range(2):
        ds = data.split("all").dataset(batch_size=64, rank=rank, world_size=2)
        got = [b.dense for b in DataLoader(ds, batch_size=None, num_workers=0)]
        assert len(got) == len(ds)
        seen.append(torch.cat(got).numpy())
    both = np.concatenate(seen)
    assert both.shape == (2_000, 13)
    assert sorted(map(tuple, both.tolist())) == sorted(map(tuple, np.asarray(data.dense).tolist()))


@pytest.mark.parametrize(("shuffle", "drop_last", "shard", "num_shards"), [(True, True, 0, 1), (False, False, 1, 3)])
def test_device_rows_cut_the_batches_of_iter_batches(shuffle, drop_last, shard, num_shards) -> None:
    data = make_synthetic(700, seed=2)
    split = data.split("train")
    kw = dict(shuffle=shuffle, seed=4, epoch=1, drop_last=drop_last, shard=shard, num_shards=num_shards)
    ref = list(split.batches(64, **kw))
    got = list(split.on_device("cpu").batches(64, **kw))
    assert len(got) == len(ref) > 2
    for a, b in zip(got, ref, strict=True):
        assert all(torch.equal(x, y) and x.dtype == y.dtype for x, y in zip(a, b, strict=True))
