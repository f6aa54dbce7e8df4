"""The vocab encoder's numpy key tables give the ids, counts and files the dict-based encoder gave (per chunk it
allocated and scanned a vocabulary-sized count array and looked every value up in a dict of Python ints, so a
chunk slowed down as the vocabulary grew); `_DictVocab` is that encoder, kept here as the reference."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np
import pytest

from nasrec.data import encoding, preparation, prepare
from nasrec.data.encoding import KeyIds, VocabEncoder
from nasrec.data.rawio import iter_chunks


class _DictVocab:
    """The encoder as it was: dicts of Python ints, a vocabulary-sized bincount a chunk."""

    def __init__(self, n_fields: int) -> None:
        self.maps: list[dict[int, int]] = [{} for _ in range(n_fields)]
        self.counts = [np.zeros(1, dtype=np.int64) for _ in range(n_fields)]

    def encode(self, keys: np.ndarray, missing: np.ndarray) -> np.ndarray:
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
        return out

    finish = VocabEncoder.finish

    def kept_keys(self, min_count: int) -> list[np.ndarray]:
        """Each field's keys seen at least `min_count` times, in the order of their ids (the dicts' order)."""
        return [
            np.fromiter(vocab, dtype=np.uint64, count=len(vocab))[counts[1 : len(vocab) + 1] >= min_count]
            for vocab, counts in zip(self.maps, self.counts, strict=True)
        ]


def _chunks(seed: int, n_chunks: int, rows: int, fields: int):
    """Keys drawn from pools of very different sizes (near-unique to a handful), extremes 0 and 2**64-1
    included, old values recurring in later chunks, some fields missing in a whole chunk."""
    rng = np.random.default_rng(seed)
    pools = [rng.integers(0, 2**64 - 1, size, dtype=np.uint64, endpoint=True) for size in (50_000, 3_000, 40, 3)]
    for pool in pools:
        pool[:2] = (0, 2**64 - 1)
    for c in range(n_chunks):
        keys = np.stack([rng.choice(pools[f % len(pools)], rows) for f in range(fields)], axis=1)
        missing = rng.random(keys.shape) < (0.1, 0.5, 0.0, 0.9)[c % 4]
        if c % 5 == 2:
            missing[:, 1] = True
        yield keys, missing


def test_ids_counts_and_tables_are_the_dict_encoders() -> None:
    new, old = VocabEncoder(5), _DictVocab(5)
    new.tables = [KeyIds(bits=1) for _ in range(5)]  # start tiny: many resizes, long probe runs
    for keys, missing in _chunks(0, 24, 2_000, 5):
        got = new.encode(keys, missing)
        assert got.dtype == np.uint32
        np.testing.assert_array_equal(got, old.encode(keys, missing))
    for got_counts, want_counts in zip(new.counts, old.counts, strict=True):
        assert got_counts.dtype == want_counts.dtype
        np.testing.assert_array_equal(got_counts, want_counts)
    assert [len(t) for t in new.tables] == [len(m) for m in old.maps]
    assert len(new.tables[0]) > 20_000  # many distinct values
    for min_count in (1, 2, 3, 40):
        (got_tables, got_cards), (want_tables, want_cards) = new.finish(min_count), old.finish(min_count)
        assert got_cards == want_cards
        for g, w in zip(got_tables, want_tables, strict=True):
            np.testing.assert_array_equal(g, w)
        for g, w in zip(new.kept_keys(min_count), old.kept_keys(min_count), strict=True):
            assert g.dtype == w.dtype == np.uint64
            np.testing.assert_array_equal(g, w)


def test_key_table_lookups_inserts_and_growth() -> None:
    rng = np.random.default_rng(1)
    keys = np.unique(rng.integers(0, 2**64 - 1, 30_000, dtype=np.uint64, endpoint=True))
    structured = [np.arange(500, dtype=np.uint64), np.uint64(2**32) * np.arange(1, 501, dtype=np.uint64)]
    keys = np.concatenate([*structured, keys])
    keys = keys[np.sort(np.unique(keys, return_index=True)[1])]  # distinct, structured ones first
    table = KeyIds(bits=1)
    for lo in range(0, len(keys), 7_001):
        part = keys[lo : lo + 7_001]
        assert (table.get(part) == 0).all()
        np.testing.assert_array_equal(table.add(part), np.arange(lo + 1, lo + 1 + len(part)))
    assert len(table) == len(keys) and 2 * len(keys) <= len(table.ids) < 4 * len(keys)
    assert int((table.ids != 0).sum()) == len(keys)
    order = rng.permutation(len(keys))
    np.testing.assert_array_equal(table.get(keys[order]), (order + 1).astype(np.uint32))
    assert (table.get(np.array([12345678901234567, 2**63 + 5], dtype=np.uint64)) == 0).all()
    assert table.get(np.zeros(0, dtype=np.uint64)).shape == (0,)


def _csv(path: Path, n: int) -> Path:
    """Columns of very different vocabularies: near-unique, skewed, mostly missing, small."""
    rng = np.random.default_rng(7)
    skew = (1 / rng.random(n)).astype(np.int64) % 900
    lines = ["y,d,u,s,m,c"]
    for i in range(n):
        m = f"m{i % 97}" if i % 3 == 0 else ""
        lines.append(f"{int(rng.random() < 0.3)},{i % 13},u{(i * 7919) % 4001},s{skew[i]},{m},{'abc'[i % 3]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "meta.json"}


@pytest.mark.parametrize(
    ("min_count", "cards", "sparse_digest"),
    [(1, (4003, 141, 99, 5), "80695938e135"), (2, (2001, 74, 99, 5), "41dbbc9c2e08")],
)
def test_prepared_files_are_the_dict_encoders(tmp_path: Path, monkeypatch, min_count, cards, sparse_digest) -> None:
    """Every file written (arrays and spec) is byte for byte what the dict-based encoder wrote, over a CSV read
    in 50 chunks of ~2 KiB (many distinct values in each, many seen again in later ones); the sparse array's digest was
    computed with that encoder in nasrec itself."""
    monkeypatch.setattr(preparation, "iter_chunks", functools.partial(iter_chunks, chunk_bytes=2048))
    csv = _csv(tmp_path / "t.csv", 6_000)
    opts = dict(label="y", dense=["d"], sparse=["u", "s", "m", "c"], min_count=min_count, progress=False)
    got = prepare(csv, "csv", out=tmp_path / "new", **opts)
    monkeypatch.setattr(preparation, "VocabEncoder", _DictVocab)
    want = prepare(csv, "csv", out=tmp_path / "old", **opts)
    assert got.spec.cardinalities == want.spec.cardinalities == cards
    new_files, old_files = _files(tmp_path / "new"), _files(tmp_path / "old")
    assert sorted(new_files) == sorted(old_files) and {"sparse.npy", "vocab.npy"} <= set(new_files)
    for name, data in new_files.items():
        assert data == old_files[name], name
    assert hashlib.sha256(new_files["sparse.npy"]).hexdigest()[:12] == sparse_digest


def test_the_warning_gives_the_tables_memory(monkeypatch) -> None:
    monkeypatch.setattr(encoding, "VOCAB_WARN", 100)
    enc = VocabEncoder(2)
    keys = np.arange(400, dtype=np.uint64).reshape(200, 2)
    with pytest.warns(UserWarning, match=r"holds 400 distinct values so far \(about 0 GiB of memory"):
        enc.encode(keys, np.zeros(keys.shape, dtype=bool))
