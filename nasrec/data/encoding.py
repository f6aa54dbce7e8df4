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
"""Distinct values (all fields) past which the vocab encoder warns, once, with the memory its tables hold (30-70
bytes a value with the counts); hash encoding keeps no state."""

_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


class KeyIds:
    """uint64 key -> id 1, 2, ... in order of insertion, looked up and inserted a whole array of keys at a time:
    open addressing with linear probing in numpy arrays kept at most half full (12 bytes a slot, 24-48 a key;
    a dict of Python ints takes ~130), so a chunk's work grows with its keys, not with the keys held."""

    def __init__(self, bits: int = 10) -> None:
        self.n = 0
        self._alloc(bits)

    def __len__(self) -> int:
        return self.n

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + self.ids.nbytes

    def _alloc(self, bits: int) -> None:
        self.bits = bits
        self.keys = np.zeros(1 << bits, dtype=np.uint64)
        self.ids = np.zeros(1 << bits, dtype=np.uint32)  # 0 = empty slot

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        """Home slots: the top bits of splitmix64's finaliser (spreads sequential and structured keys alike)."""
        x = keys ^ (keys >> np.uint64(30))
        x *= _MIX1
        x ^= x >> np.uint64(27)
        x *= _MIX2
        x ^= x >> np.uint64(31)
        return (x >> np.uint64(64 - self.bits)).astype(np.int64)

    def get(self, keys: np.ndarray) -> np.ndarray:
        """The ids of uint64 `keys` as uint32, 0 for a key not held."""
        out = np.zeros(len(keys), dtype=np.uint32)
        pos = self._slots(keys)
        todo = np.arange(len(keys))
        mask = len(self.ids) - 1
        while len(todo):
            s = pos[todo]
            held = self.ids[s]
            hit = (held != 0) & (self.keys[s] == keys[todo])
            out[todo[hit]] = held[hit]
            go = (held != 0) & ~hit  # an occupied slot with another key: probe the next one
            todo = todo[go]
            pos[todo] = (s[go] + 1) & mask
        return out

    def add(self, keys: np.ndarray) -> np.ndarray:
        """Insert distinct uint64 `keys` not held yet; their ids (the next ones, in the order given) as uint32."""
        ids = np.arange(self.n + 1, self.n + 1 + len(keys), dtype=np.uint32)
        if 2 * (self.n + len(keys)) > len(self.ids):
            bits = self.bits
            while 2 * (self.n + len(keys)) > 1 << bits:
                bits += 1
            held = self.ids != 0
            old_keys, old_ids = self.keys[held], self.ids[held]
            self._alloc(bits)
            self._place(old_keys, old_ids)
        self._place(keys, ids)
        self.n += len(keys)
        return ids

    def _place(self, keys: np.ndarray, ids: np.ndarray) -> None:
        pos = self._slots(keys)
        todo = np.arange(len(keys))
        mask = len(self.ids) - 1
        while len(todo):
            s = pos[todo]
            free = self.ids[s] == 0
            self.ids[s[free]] = ids[todo[free]]  # several keys aiming at one free slot: one of them gets it
            won = np.zeros(len(todo), dtype=bool)
            won[free] = self.ids[s[free]] == ids[todo[free]]
            self.keys[s[won]] = keys[todo[won]]
            todo = todo[~won]
            pos[todo] = (s[~won] + 1) & mask


class VocabEncoder:
    def __init__(self, n_fields: int) -> None:
        self.tables = [KeyIds() for _ in range(n_fields)]
        self._counts = [np.zeros(1024, dtype=np.int64) for _ in range(n_fields)]
        """Per field, occurrences by raw id (0 = missing, never counted), grown by half when full; the ids past
        the table's are 0."""
        self.warned = False

    @property
    def counts(self) -> list[np.ndarray]:
        """Per field, occurrences by raw id 0..number of values (0 = missing, never counted)."""
        return [c[: len(t) + 1] for c, t in zip(self._counts, self.tables, strict=True)]

    def encode(self, keys: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """Raw ids (1-based by first appearance; 0 = missing) as uint32."""
        out = np.zeros(keys.shape, dtype=np.uint32)
        for f, table in enumerate(self.tables):
            present = ~missing[:, f]
            vals = keys[present, f].astype(np.uint64, copy=False)
            if not len(vals):
                continue
            uniq, first, inverse = np.unique(vals, return_index=True, return_inverse=True)
            ids = table.get(uniq)
            new = np.flatnonzero(ids == 0)
            if len(new):  # the values not seen before get the next ids in order of first appearance
                new = new[np.argsort(first[new], kind="stable")]
                ids[new] = table.add(uniq[new])
            inverse = inverse.ravel()
            out[present, f] = ids[inverse]
            counts = self._counts[f]
            if len(table) + 1 > len(counts):
                grown = np.zeros(max(len(table) + 1, len(counts) + len(counts) // 2), dtype=np.int64)
                grown[: len(counts)] = counts
                self._counts[f] = counts = grown
            counts[ids] += np.bincount(inverse, minlength=len(uniq))  # ids are distinct: no np.add.at needed
        distinct = sum(len(t) for t in self.tables)
        if distinct > VOCAB_WARN and not self.warned:
            self.warned = True
            held = sum(t.nbytes for t in self.tables) + sum(c.nbytes for c in self._counts)
            warnings.warn(
                f"vocab encoding holds {distinct:,} distinct values so far (about {held / 2**30:.0f} GiB of "
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

    def kept_keys(self, min_count: int) -> list[np.ndarray]:
        """Per field, the uint64 keys of the kept values in index order (the key of index 2 + i is the i-th):
        what `finish` numbered, as the vocabulary a new row is encoded with."""
        out = []
        for table, counts in zip(self.tables, self.counts, strict=True):
            by_id = np.zeros(len(table) + 1, dtype=np.uint64)
            held = table.ids != 0
            by_id[table.ids[held]] = table.keys[held]
            out.append(by_id[1:][counts[1:] >= min_count])
        return out
