"""Categorical keys -> embedding indices, 0 = missing in every field.

- vocab (default): per field, values seen at least `min_count` times get ids 2, 3, ... in order of first
  appearance; rarer values share id 1 ("other"). Cardinality = 2 + kept values. One streaming pass
  records first-appearance ids and counts; a vectorised remap applies `min_count` at the end.
- hash: index = key mod (C - 1) + 1 for given per-field cardinalities C (one pass, no state). The key of a
  value is its number for hex (Criteo) and decimal (KDD) ids, else the FNV-1a 64-bit hash of its bytes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np


class HashEncoder:
    def __init__(self, cardinalities: Sequence[int]) -> None:
        self.cardinalities = tuple(int(c) for c in cardinalities)
        self.mod = np.array([c - 1 for c in self.cardinalities], dtype=np.uint64)

    def encode(self, keys: np.ndarray, missing: np.ndarray) -> np.ndarray:
        idx = (keys % self.mod[None, :] + np.uint64(1)).astype(np.int64)
        idx[missing] = 0
        return idx


VOCAB_WARN = 20_000_000
"""Distinct values (all fields) past which the vocab encoder warns, once: its dictionaries hold ~100 bytes a value
and each chunk's counting grows with them; hash encoding keeps no state."""


class VocabEncoder:
    def __init__(self, n_fields: int) -> None:
        self.maps: list[dict[int, int]] = [{} for _ in range(n_fields)]
        self.counts = [np.zeros(1, dtype=np.int64) for _ in range(n_fields)]
        self.warned = False

    def encode(self, keys: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """Raw ids (1-based by first appearance; 0 = missing) as uint32."""
        out = np.zeros(keys.shape, dtype=np.uint32)
        for f, vocab in enumerate(self.maps):
            present = ~missing[:, f]
            vals = keys[present, f]
            if not len(vals):
                continue
            uniq, first, inverse = np.unique(vals, return_index=True, return_inverse=True)
            for k in uniq[np.argsort(first, kind="stable")].tolist():
                if k not in vocab:
                    vocab[k] = len(vocab) + 1
            ids = np.fromiter(map(vocab.__getitem__, uniq.tolist()), dtype=np.uint32, count=len(uniq))
            raw = ids[inverse.ravel()]
            out[present, f] = raw
            counts = np.bincount(raw, minlength=len(vocab) + 1)
            counts[: len(self.counts[f])] += self.counts[f]
            self.counts[f] = counts
        distinct = sum(len(vocab) for vocab in self.maps)
        if distinct > VOCAB_WARN and not self.warned:
            self.warned = True
            warnings.warn(
                f"vocab encoding holds {distinct:,} distinct values so far (about {distinct * 100 / 2**30:.0f} GiB of "
                "memory, growing): for data this large prefer --encoding hash (prepare(..., encoding='hash'))",
                UserWarning,
                stacklevel=2,
            )
        return out

    def finish(self, min_count: int) -> tuple[list[np.ndarray], tuple[int, ...]]:
        """Per-field lookup tables raw id -> final index, and the cardinalities."""
        tables, cards = [], []
        for counts in self.counts:
            kept = counts[1:] >= min_count
            table = np.ones(len(counts), dtype=np.int64)
            table[0] = 0
            table[1:][kept] = 2 + np.arange(int(kept.sum()))
            tables.append(table)
            cards.append(2 + int(kept.sum()))
        return tables, tuple(cards)
