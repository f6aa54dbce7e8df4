"""Batches of (dense, sparse, label) torch tensors cut from arrays by slicing — no Python per-row work.

Rows are gathered a block of batches at a time (one numpy `take` per block), then sliced into batches.
Shuffling permutes row order per epoch with `numpy.random.default_rng([seed, epoch])`. Sharding deals
whole batches round-robin (batch b goes to shard b % num_shards), so DataLoader workers and processes
each see a disjoint part of one global order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

GATHER_BATCHES = 32


class Batch(NamedTuple):
    dense: torch.Tensor  # float32 [B, n_dense]
    sparse: torch.Tensor  # int64 [B, n_sparse]
    label: torch.Tensor  # float32 [B]


def epoch_order(n: int, indices: np.ndarray | None, shuffle: bool, seed: int, epoch: int) -> np.ndarray | None:
    """Row order of one epoch; None means rows 0..n-1 in order (plain slicing)."""
    if not shuffle:
        return indices
    rng = np.random.default_rng([seed, epoch])
    return rng.permutation(n) if indices is None else indices[rng.permutation(len(indices))]


def n_batches(n_rows: int, batch_size: int, drop_last: bool) -> int:
    return n_rows // batch_size if drop_last else -(-n_rows // batch_size)


def iter_batches(
    dense: np.ndarray,
    sparse: np.ndarray,
    label: np.ndarray,
    batch_size: int = 512,
    *,
    indices: np.ndarray | None = None,
    shuffle: bool = False,
    seed: int = 0,
    epoch: int = 0,
    drop_last: bool = False,
    shard: int = 0,
    num_shards: int = 1,
) -> Iterator[Batch]:
    """Yield the batches of one epoch over `indices` (default: all rows) that belong to `shard`."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} is not in 0..{num_shards - 1}")
    n = len(label) if indices is None else len(indices)
    order = epoch_order(len(label), indices, shuffle, seed, epoch)
    mine = np.arange(shard, n_batches(n, batch_size, drop_last), num_shards)
    for g in range(0, len(mine), GATHER_BATCHES):
        group = mine[g : g + GATHER_BATCHES]
        bounds = [(int(b) * batch_size, min(int(b) * batch_size + batch_size, n)) for b in group]
        if num_shards == 1:
            lo, hi = bounds[0][0], bounds[-1][1]
            rows: slice | np.ndarray = slice(lo, hi) if order is None else order[lo:hi]
        else:
            src = np.arange(n) if order is None else order
            rows = np.concatenate([src[lo:hi] for lo, hi in bounds])
        if isinstance(rows, slice):
            d, s, y = (np.array(dense[rows]), np.asarray(sparse[rows], dtype=np.int64), np.array(label[rows]))
        else:
            d = np.take(dense, rows, axis=0)
            s = np.take(sparse, rows, axis=0).astype(np.int64, copy=False)
            y = np.take(label, rows, axis=0)
        dt, st, yt = torch.from_numpy(d), torch.from_numpy(s), torch.from_numpy(y.astype(np.float32, copy=False))
        pos = 0
        for lo, hi in bounds:
            m = hi - lo
            yield Batch(dt[pos : pos + m], st[pos : pos + m], yt[pos : pos + m])
            pos += m


ArraysFn = Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]]


class BatchDataset(IterableDataset):
    """An IterableDataset of whole batches; use with `DataLoader(ds, batch_size=None, num_workers=k)`.

    Batches are sharded across DataLoader workers and across `world_size` processes (`rank`). Call
    `set_epoch(e)` before each epoch when shuffling. `arrays` is a callable returning (dense, sparse,
    label) so each worker can open its own memory maps instead of receiving copies.
    """

    def __init__(
        self,
        arrays: ArraysFn,
        indices: np.ndarray | None,
        n_rows: int,
        batch_size: int = 512,
        *,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        super().__init__()
        self.arrays, self.indices, self.n_rows = arrays, indices, n_rows
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.rank, self.world_size, self.epoch = rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        """Batches this process (all its workers together) yields per epoch."""
        total = n_batches(self.n_rows, self.batch_size, self.drop_last)
        return len(range(self.rank, total, self.world_size))

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        wid, nw = (0, 1) if info is None else (info.id, info.num_workers)
        dense, sparse, label = self.arrays()
        yield from iter_batches(
            dense,
            sparse,
            label,
            self.batch_size,
            indices=self.indices,
            shuffle=self.shuffle,
            seed=self.seed,
            epoch=self.epoch,
            drop_last=self.drop_last,
            shard=wid * self.world_size + self.rank,
            num_shards=self.world_size * nw,
        )


class DeviceRows:
    """Rows held on a device as whole tensors (moved there once), cut into the batches `iter_batches` yields
    over the same rows: same order per (seed, epoch), same shards; per batch one `index_select` on the device
    instead of a gather on the host and a host-to-device copy."""

    def __init__(self, dense: np.ndarray, sparse: np.ndarray, label: np.ndarray, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.dense = torch.from_numpy(np.ascontiguousarray(dense, dtype=np.float32)).to(self.device)
        self.sparse = torch.from_numpy(np.ascontiguousarray(sparse, dtype=np.int64)).to(self.device)
        self.label = torch.from_numpy(np.ascontiguousarray(label, dtype=np.float32)).to(self.device)

    @staticmethod
    def nbytes(n_rows: int, n_dense: int, n_sparse: int) -> int:
        """Device memory the rows take (float32 dense and labels, int64 indices)."""
        return n_rows * (4 * n_dense + 8 * n_sparse + 4)

    def __len__(self) -> int:
        return len(self.label)

    def batches(
        self,
        batch_size: int = 512,
        *,
        shuffle: bool = False,
        seed: int = 0,
        epoch: int = 0,
        drop_last: bool = False,
        shard: int = 0,
        num_shards: int = 1,
    ) -> Iterator[Batch]:
        """One epoch of batches, as `iter_batches` over these rows (their positions are the indices)."""
        n = len(self)
        order = epoch_order(n, None, shuffle, seed, epoch)
        pos = None if order is None else torch.from_numpy(order).to(self.device)
        for b in range(shard, n_batches(n, batch_size, drop_last), num_shards):
            lo, hi = b * batch_size, min(b * batch_size + batch_size, n)
            if pos is None:
                yield Batch(self.dense[lo:hi], self.sparse[lo:hi], self.label[lo:hi])
            else:
                rows = pos[lo:hi]
                yield Batch(*(t.index_select(0, rows) for t in (self.dense, self.sparse, self.label)))
