"""Synthetic CTR data with planted feature interactions, at any size; and a raw Criteo TSV writer.

Categoricals are Zipf-distributed (index 0 = missing), dense values log-normal counts (stored as
log(x + 1)), labels Bernoulli(sigmoid(teacher logit + b)) with b found by bisection so the mean click
probability hits the target positive rate. The default teacher plants pairwise interactions: random
embedding vectors per category, logit = sum over a few field pairs of dot products + linear dense terms.
Any callable `f(dense, sparse) -> logits` can be the teacher instead (e.g. a random genotype network).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from nasrec.data.prepared import PreparedData
from nasrec.data.spec import CRITEO_CARDINALITIES, FeatureSpec

Teacher = Callable[[np.ndarray, np.ndarray], np.ndarray]
DEFAULT_CARDINALITIES = tuple(min(c, 10_000) for c in CRITEO_CARDINALITIES)
_TABLE_ROWS = 1 << 16


class PlantedTeacher:
    """logit = sum_{(i, j) in pairs} scale * <E_i[x_i], E_j[x_j]> + dense @ w (embeddings hashed to 64K rows)."""

    def __init__(
        self,
        n_dense: int,
        cardinalities: Sequence[int],
        rng: np.random.Generator,
        *,
        n_pairs: int = 4,
        dim: int = 8,
        scale: float = 1.5,
    ) -> None:
        n_sparse = len(cardinalities)
        all_pairs = [(i, j) for i in range(n_sparse) for j in range(i + 1, n_sparse)]
        pick = rng.choice(len(all_pairs), size=min(n_pairs, len(all_pairs)), replace=False)
        self.pairs = [all_pairs[k] for k in sorted(pick.tolist())]
        fields = sorted({f for p in self.pairs for f in p})
        self.tables = {
            f: rng.normal(0, 1 / np.sqrt(dim), (min(int(cardinalities[f]), _TABLE_ROWS), dim)) for f in fields
        }
        self.w = rng.normal(0, 0.5 / np.sqrt(max(n_dense, 1)), n_dense)
        self.scale = scale

    def __call__(self, dense: np.ndarray, sparse: np.ndarray) -> np.ndarray:
        logit = dense.astype(np.float64) @ self.w
        for i, j in self.pairs:
            ti, tj = self.tables[i], self.tables[j]
            ei, ej = ti[sparse[:, i] % len(ti)], tj[sparse[:, j] % len(tj)]
            logit += self.scale * np.sqrt(ti.shape[1]) * np.einsum("nd,nd->n", ei, ej)
        return logit


def calibrate_bias(logits: np.ndarray, positive_rate: float) -> float:
    """b such that mean(sigmoid(logits + b)) == positive_rate (bisection)."""
    lo, hi = -50.0, 50.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(logits + mid)))) < positive_rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _features(
    n: int, n_dense: int, cards: np.ndarray, rng: np.random.Generator, zipf_a: float, missing_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Raw dense counts (int64, -1 = missing) and sparse indices (0 = missing)."""
    raw = np.floor(rng.lognormal(1.0, 1.5, (n, n_dense))).astype(np.int64)
    raw[rng.random((n, n_dense)) < missing_rate] = -1
    z = rng.zipf(zipf_a, (n, len(cards))).astype(np.int64) if len(cards) else np.zeros((n, 0), np.int64)
    sparse = (z - 1) % (cards[None, :] - 1) + 1
    sparse[rng.random(sparse.shape) < missing_rate] = 0
    return raw, sparse


def _dense_of(raw: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(raw, 0)).astype(np.float32)


class _Generator:
    def __init__(
        self,
        n_dense: int,
        cardinalities: Sequence[int],
        positive_rate: float,
        seed: int,
        teacher: Teacher | None,
        zipf_a: float,
        missing_rate: float,
        n_pairs: int,
    ) -> None:
        if not 0 < positive_rate < 1:
            raise ValueError(f"positive_rate must be in (0, 1), got {positive_rate}")
        self.n_dense, self.cards = n_dense, np.asarray(cardinalities, dtype=np.int64)
        self.zipf_a, self.missing_rate = zipf_a, missing_rate
        self.rng = np.random.default_rng(seed)
        self.teacher = teacher or PlantedTeacher(n_dense, cardinalities, self.rng, n_pairs=n_pairs)
        raw, sparse = _features(20_000, n_dense, self.cards, np.random.default_rng([seed, 1]), zipf_a, missing_rate)
        self.bias = calibrate_bias(np.asarray(self.teacher(_dense_of(raw), sparse), dtype=np.float64), positive_rate)

    def chunk(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Raw dense counts, sparse indices, labels and each row's true click probability."""
        raw, sparse = _features(n, self.n_dense, self.cards, self.rng, self.zipf_a, self.missing_rate)
        logits = np.asarray(self.teacher(_dense_of(raw), sparse), dtype=np.float64) + self.bias
        prob = 1 / (1 + np.exp(-logits))
        label = (self.rng.random(n) < prob).astype(np.float32)
        return raw, sparse, label, prob


def make_synthetic(
    n_rows: int,
    *,
    n_dense: int = 13,
    cardinalities: Sequence[int] = DEFAULT_CARDINALITIES,
    positive_rate: float = 0.25,
    seed: int = 0,
    teacher: Teacher | None = None,
    zipf_a: float = 1.2,
    missing_rate: float = 0.05,
    n_pairs: int = 4,
    embedding_dim: int = 16,
) -> PreparedData:
    """In-memory synthetic data (Criteo-like shape by default) as a PreparedData, with each row's true click
    probability (`.prob`); `.save(dir)` writes it."""
    gen = _Generator(n_dense, cardinalities, positive_rate, seed, teacher, zipf_a, missing_rate, n_pairs)
    raw, sparse, label, prob = gen.chunk(n_rows)
    spec = FeatureSpec.synthetic(n_dense, cardinalities, embedding_dim=embedding_dim)
    from nasrec.data.prepared import sparse_dtype

    return PreparedData.from_arrays(
        _dense_of(raw),
        sparse.astype(sparse_dtype(max(cardinalities))),
        label,
        spec,
        format="synthetic",
        prob=prob,
        options={
            "teacher": getattr(teacher, "description", "planted pairs"),
            "seed": seed,
            "positive_rate": positive_rate,
        },
    )


_SKIP = 0xFF
_HEXCHARS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """[..., width] ASCII digits of non-negative ints, right-aligned, leading positions = _SKIP; -1 -> all _SKIP."""
    v = np.maximum(values, 0)[..., None]
    power = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    d = (v // power) % 10
    nd = np.maximum(np.floor(np.log10(np.maximum(v, 1))).astype(np.int64) + 1, 1)
    keep = np.arange(width)[None, None, :] >= width - nd
    keep &= values[..., None] >= 0
    return np.where(keep, d + 48, _SKIP).astype(np.uint8)


def criteo_tsv_bytes(raw: np.ndarray, sparse: np.ndarray, label: np.ndarray) -> bytes:
    """Raw Criteo lines (label, 13 ints, 26 8-hex categoricals; missing = empty), built without per-row work."""
    n = len(label)
    width = max(int(np.log10(max(int(raw.max(initial=1)), 1))) + 1, 1)
    dense = _digits(raw, width)  # [n, 13, width]
    field = np.arange(sparse.shape[1], dtype=np.uint64)[None, :]
    hexval = (sparse.astype(np.uint64) * np.uint64(2654435761) + field * np.uint64(0x9E3779B9)) & np.uint64(0xFFFFFFFF)
    shifts = np.arange(28, -4, -4, dtype=np.uint64)
    hx = _HEXCHARS[((hexval[..., None] >> shifts) & np.uint64(15)).astype(np.int64)]
    hx[sparse == 0] = _SKIP
    tab = np.full((n, 1), 9, dtype=np.uint8)
    parts = [(label.astype(np.uint8) + 48)[:, None]]
    for k in range(dense.shape[1]):
        parts += [tab, dense[:, k]]
    for k in range(hx.shape[1]):
        parts += [tab, hx[:, k]]
    parts.append(np.full((n, 1), 10, dtype=np.uint8))
    mat = np.concatenate(parts, axis=1)
    return mat[mat != _SKIP].tobytes()


def write_criteo_tsv(
    path: str | Path,
    n_rows: int,
    *,
    seed: int = 0,
    positive_rate: float = 0.25,
    cardinalities: Sequence[int] = DEFAULT_CARDINALITIES,
    teacher: Teacher | None = None,
    compress: bool | None = None,
    chunk_rows: int = 100_000,
) -> Path:
    """Write synthetic rows in raw Criteo TSV format (gzip when `compress` or the name ends in .gz)."""
    path = Path(path)
    if len(cardinalities) != 26:
        raise ValueError("the Criteo format has 26 categorical fields")
    gen = _Generator(13, cardinalities, positive_rate, seed, teacher, 1.2, 0.05, 4)
    compress = path.suffix == ".gz" if compress is None else compress
    with gzip.open(path, "wb", compresslevel=1) if compress else open(path, "wb") as f:
        for lo in range(0, n_rows, chunk_rows):
            raw, sparse, label, _ = gen.chunk(min(chunk_rows, n_rows - lo))
            f.write(criteo_tsv_bytes(raw, sparse, label))
    return path
