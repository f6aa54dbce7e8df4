"""The prepared form: .npy arrays (memory-mapped on load) + spec.json + meta.json in one folder.

dense.npy   float32 [rows, n_dense]   log(max(x, 0) + 1) already applied (as given where prepared with
            log_dense=False)
sparse.npy  uint8/int16/int32/int64 [rows, n_sparse]   0 = missing, index < cardinality
label.npy   float32 [rows]
folds.npy   uint8 [rows]   0-based stratified fold (0-7 train, 8 valid, 9 test)
prob.npy    float64 [rows], optional: each row's true click probability (oracle data; labels ~ Bernoulli)
spec.json   FeatureSpec
meta.json   PrepMeta (written last: a folder without it is not prepared data)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from pydantic import BaseModel, Field, ValidationError

from nasrec.data.batching import Batch, BatchDataset, DeviceRows, iter_batches
from nasrec.data.errors import BadRowReport, DataError
from nasrec.data.npy import load_checked
from nasrec.data.spec import FeatureSpec
from nasrec.data.split import N_FOLDS, SPLIT_SEED, split_indices, stratified_folds
from nasrec.state import atomic_folder, validation_reason

M = TypeVar("M", bound=BaseModel)

FORMAT_VERSION = 1


class PrepMeta(BaseModel):
    """What was prepared, from what, and how; saved as meta.json."""

    format_version: int = FORMAT_VERSION
    format: str
    source: str = ""
    source_digest: str = ""
    key: str = ""
    options: dict[str, Any] = Field(default_factory=dict)
    rows: int
    positives: int
    bad_rows: BadRowReport = Field(default_factory=BadRowReport)
    split_seed: int = SPLIT_SEED
    n_folds: int = N_FOLDS


def sparse_dtype(max_cardinality: int) -> np.dtype:
    """Narrowest integer dtype holding indices 0..max_cardinality-1."""
    for dt in (np.uint8, np.int16, np.int32):
        if max_cardinality - 1 <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.int64)


def write_arrays(
    path: Path,
    spec: FeatureSpec,
    meta: PrepMeta,
    dense: np.ndarray,
    sparse: np.ndarray,
    label: np.ndarray,
    folds: np.ndarray | None = None,
    prob: np.ndarray | None = None,
) -> None:
    """Write a complete prepared folder (used for in-memory data, e.g. synthetic): built under a temporary name
    beside `path` and renamed into place, so `path` is whole or absent. An existing non-empty folder is
    refused, never overwritten."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise DataError(f"{path} already exists; prepared data is never overwritten: choose a new folder")
    with atomic_folder(path) as tmp:
        if prob is not None:
            np.save(tmp / "prob.npy", np.ascontiguousarray(prob, dtype=np.float64))
        if folds is None:
            folds = stratified_folds(label, meta.n_folds, meta.split_seed)
        np.save(tmp / "dense.npy", np.ascontiguousarray(dense, dtype=np.float32))
        np.save(tmp / "sparse.npy", np.ascontiguousarray(sparse, dtype=sparse_dtype(max(spec.cardinalities))))
        np.save(tmp / "label.npy", np.ascontiguousarray(label, dtype=np.float32))
        np.save(tmp / "folds.npy", folds.astype(np.uint8))
        spec.save(tmp / "spec.json")
        (tmp / "meta.json").write_text(meta.model_dump_json(indent=2) + "\n")


class DataSplit:
    """Rows of one split (train, valid, test, train+valid, all) of a PreparedData."""

    def __init__(self, data: PreparedData, name: str, indices: np.ndarray) -> None:
        self.data, self.name, self.indices = data, name, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __repr__(self) -> str:
        return f"DataSplit({self.name!r}, rows={len(self)}, positive_rate={self.positive_rate:.4f})"

    @property
    def dense(self) -> np.ndarray:
        return np.asarray(np.take(self.data.dense, self.indices, axis=0))

    @property
    def sparse(self) -> np.ndarray:
        return np.asarray(np.take(self.data.sparse, self.indices, axis=0))

    @property
    def label(self) -> np.ndarray:
        return np.asarray(np.take(self.data.label, self.indices, axis=0))

    @property
    def prob(self) -> np.ndarray | None:
        """True click probabilities of the rows (oracle data), else None."""
        p = self.data.prob
        return None if p is None else np.asarray(np.take(p, self.indices, axis=0))

    @property
    def positive_rate(self) -> float:
        return float(self.label.mean()) if len(self) else float("nan")

    def full_batches(self, batch_size: int) -> int:
        """Whole batches of `batch_size` rows in one epoch (what training with `drop_last` runs); a split
        smaller than one batch is a `DataError` naming the data, the split, its rows and the batch size."""
        steps = len(self) // batch_size
        if steps == 0:
            raise DataError(
                f"the {self.name} split has {len(self):,} rows, fewer than one batch of {batch_size:,} "
                f"(use a smaller batch size or more data)",
                file=self.data.where,
                rule="batch",
            )
        return steps

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
        """One epoch of `Batch(dense float32, sparse int64, label float32)` tensors."""
        d = self.data
        idx = None if self.name == "all" else self.indices
        return iter_batches(
            d.dense,
            d.sparse,
            d.label,
            batch_size,
            indices=idx,
            shuffle=shuffle,
            seed=seed,
            epoch=epoch,
            drop_last=drop_last,
            shard=shard,
            num_shards=num_shards,
        )

    def on_device(self, device: torch.device | str) -> DeviceRows:
        """The split's rows as tensors on `device` (see `DeviceRows`); `.batches` cuts the same batches."""
        return DeviceRows(self.dense, self.sparse, self.label, device)

    def dataset(
        self,
        batch_size: int = 512,
        *,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> BatchDataset:
        """A torch IterableDataset of batches for DataLoader(batch_size=None, num_workers=...)."""
        idx = None if self.name == "all" else self.indices
        return BatchDataset(
            self.data._arrays_fn(),
            idx,
            len(self),
            batch_size,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
            rank=rank,
            world_size=world_size,
        )


class _OpenArrays:
    """Picklable callable that re-opens a prepared folder's memory maps (in each DataLoader worker)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dense, sparse, label = (
            np.load(self.path / f"{n}.npy", mmap_mode="r", allow_pickle=False) for n in ("dense", "sparse", "label")
        )
        return dense, sparse, label


class _HeldArrays:
    def __init__(self, arrays: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        self.arrays = arrays

    def __call__(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.arrays


def _validated(model: type[M], path: Path) -> M:
    """`model` read from the JSON file `path`; a file it does not validate is a one-line `ValueError` naming it."""
    try:
        return model.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise ValueError(f"{path.name}: {validation_reason(exc)}") from None


class PreparedData:
    """A prepared dataset: `.spec`, `.dense`, `.sparse`, `.label` (memory maps), `.split(name)`, `.batches()`;
    `.prob`: the true click probabilities where the data is oracle data (else None)."""

    def __init__(
        self,
        spec: FeatureSpec,
        meta: PrepMeta,
        dense: np.ndarray,
        sparse: np.ndarray,
        label: np.ndarray,
        folds: np.ndarray,
        path: Path | None = None,
        cache_hit: bool = False,
        prob: np.ndarray | None = None,
    ) -> None:
        self.spec, self.meta, self.path, self.cache_hit = spec, meta, path, cache_hit
        self.dense, self.sparse, self.label, self.folds, self.prob = dense, sparse, label, folds, prob

    @classmethod
    def open(cls, path: str | Path, cache_hit: bool = False) -> PreparedData:
        """A prepared folder, memory-mapped. One that is not prepared data, is damaged (an array missing, cut short
        or of a shape its meta.json and spec.json disagree with) or of another format version is a `DataError`."""
        path = Path(path)
        if not path.exists():
            raise DataError("no such folder", file=str(path), rule="prepared")
        if not (path / "meta.json").is_file():
            raise DataError("not a prepared data folder (no meta.json)", file=str(path), rule="prepared")
        try:
            meta = _validated(PrepMeta, path / "meta.json")
            spec = _validated(FeatureSpec, path / "spec.json")
            if meta.format_version == FORMAT_VERSION:  # shapes from the headers alone: no data is read
                rows = meta.rows
                dense = load_checked(path / "dense.npy", (rows, spec.n_dense))
                sparse = load_checked(path / "sparse.npy", (rows, spec.n_sparse))
                label, folds = (load_checked(path / f"{n}.npy", (rows,)) for n in ("label", "folds"))
                prob = load_checked(path / "prob.npy", (rows,)) if (path / "prob.npy").is_file() else None
        except (OSError, ValueError) as e:
            why = (
                f"{Path(e.filename).name}: {e.strerror}" if isinstance(e, OSError) and e.filename and e.strerror else e
            )
            raise DataError(
                f"damaged prepared data ({why}); remove this folder and prepare the data again",
                file=str(path),
                rule="prepared",
            ) from None
        if meta.format_version != FORMAT_VERSION:
            raise DataError(
                f"prepared with format version {meta.format_version}, this nasrec reads "
                f"{FORMAT_VERSION}; prepare again",
                file=str(path),
                rule="prepared",
            )
        return cls(spec, meta, dense, sparse, label, folds, path=path, cache_hit=cache_hit, prob=prob)

    @classmethod
    def from_arrays(
        cls,
        dense: np.ndarray,
        sparse: np.ndarray,
        label: np.ndarray,
        spec: FeatureSpec,
        *,
        format: str = "arrays",
        seed: int = SPLIT_SEED,
        prob: np.ndarray | None = None,
        options: dict[str, Any] | None = None,
    ) -> PreparedData:
        """In-memory data (e.g. synthetic, with true probabilities `prob`); `save(path)` writes it. Shapes, row
        counts and every sparse id (0 <= id < its column's cardinality) are checked: a `DataError` names the
        first that is wrong."""
        label = np.asarray(label, dtype=np.float32)
        dense, sparse = np.asarray(dense, dtype=np.float32), np.asarray(sparse)
        _check_arrays(dense, sparse, label, prob, spec)
        meta = PrepMeta(
            format=format, rows=len(label), positives=int(label.sum()), split_seed=seed, options=options or {}
        )
        return cls(
            spec,
            meta,
            dense,
            sparse,
            label,
            stratified_folds(label, N_FOLDS, seed),
            prob=None if prob is None else np.asarray(prob),
        )

    def save(self, path: str | Path) -> PreparedData:
        write_arrays(Path(path), self.spec, self.meta, self.dense, self.sparse, self.label, self.folds, self.prob)
        return PreparedData.open(path)

    def __len__(self) -> int:
        return len(self.label)

    def __repr__(self) -> str:
        return (
            f"PreparedData({self.meta.format!r}, rows={len(self)}, dense={self.spec.n_dense}, "
            f"sparse={self.spec.n_sparse}, path={str(self.path) if self.path else None!r})"
        )

    @property
    def positive_rate(self) -> float:
        return self.meta.positives / max(self.meta.rows, 1)

    @property
    def where(self) -> str:
        """How errors name this data: its folder, or its format for data held in memory."""
        return str(self.path) if self.path is not None else f"{self.meta.format} data in memory"

    def split(self, name: str) -> DataSplit:
        """`train` (folds 1-8), `valid` (9), `test` (10), `train+valid` or `all`."""
        return DataSplit(self, name, split_indices(self.folds, name))

    def batches(self, batch_size: int = 512, *, split: str = "all", **kw: Any) -> Iterator[Batch]:
        return self.split(split).batches(batch_size, **kw)

    def _arrays_fn(self) -> _OpenArrays | _HeldArrays:
        if self.path is not None:
            return _OpenArrays(self.path)
        return _HeldArrays((self.dense, self.sparse, self.label))

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rows": len(self), "positive_rate": self.positive_rate}
        for name in ("train", "valid", "test"):
            s = self.split(name)
            out[name] = {"rows": len(s), "positive_rate": s.positive_rate}
        return out


def _check_arrays(
    dense: np.ndarray, sparse: np.ndarray, label: np.ndarray, prob: np.ndarray | None, spec: FeatureSpec
) -> None:
    """`PreparedData.from_arrays`'s arrays against `spec` and each other: a `DataError` for the first fault."""

    def fail(message: str) -> DataError:
        return DataError(f"PreparedData.from_arrays: {message}", rule="arrays")

    for name, a, width in (("dense", dense, spec.n_dense), ("sparse", sparse, spec.n_sparse)):
        if a.ndim != 2 or a.shape[1] != width:
            raise fail(f"{name} has shape {list(a.shape)}, expected [rows, {width}] (the spec's {name} features)")
    if label.ndim != 1:
        raise fail(f"label has shape {list(label.shape)}, expected [rows]")
    rows = {"dense": len(dense), "sparse": len(sparse), "label": len(label)}
    if prob is not None:
        rows["prob"] = len(np.asarray(prob).reshape(-1))
    if len(set(rows.values())) > 1:
        raise fail("arrays of different row counts: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    if sparse.dtype.kind not in "iu":
        raise fail(f"sparse ids must be integers, got {sparse.dtype}")
    if not len(sparse):
        return
    cards = np.asarray(spec.cardinalities)
    outside = (sparse.min(axis=0) < 0) | (sparse.max(axis=0) >= cards)
    if outside.any():
        col = int(np.argmax(outside))
        row = int(np.argmax((sparse[:, col] < 0) | (sparse[:, col] >= cards[col])))
        raise fail(
            f"sparse[{row}, {col}] (column {spec.sparse_names[col]}) is {int(sparse[row, col])}, outside "
            f"0..{int(cards[col]) - 1} (its cardinality is {int(cards[col])})"
        )


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
