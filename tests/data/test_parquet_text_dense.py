"""Parquet text dense columns are read a batch at a time with Arrow, to the values and bad rows Python's
`float`, called per value, gave (33k rows/s against 145k for numeric columns); `_per_value` is that reading, kept
here as the reference."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import pytest

from nasrec.data import DataError, parquet, prepare

pa = pytest.importorskip("pyarrow")
pc = pytest.importorskip("pyarrow.compute")
pq = pytest.importorskip("pyarrow.parquet")


def _per_value(col) -> tuple[np.ndarray, np.ndarray]:
    """A text column's (values, bad) as they were read: one `float(text)` a value."""
    v, bad = np.zeros(len(col)), np.zeros(len(col), dtype=bool)
    for i, text in enumerate(col.to_pylist()):
        if text is None or not text.strip():
            continue
        try:
            x = float(text)
        except ValueError:
            x = float("nan")
        bad[i] = not np.isfinite(x)
        v[i] = 0.0 if bad[i] else x
    return v, bad


EDGES = [
    *("0", "7", "-7", "+3", "007", "-0", "+0.0", "-0e5", ".5", "-.5", "1.", "1.e1", "1e3", "-2.5E-1", "1e+05"),
    *(" 12 ", "\t-3\n", "\r4.5\f", " 1e2 ", "\v5", "\u00a06\u2003", "9007199254740993", "0.1" + "0" * 50 + "1"),
    *("1e400", "-1e400", "1e-400", "4.9e-324", "2.4703282292062328e-324", "1.7976931348623159e308", "1" * 400),
    *("1e0000000000000000000000000001", "0e99999999999999999999", "1e-99999999999999999999"),
    *("nan", "NaN", "-nan", "+NAN", " inf ", "-Infinity", "iNfInItY", "nan(1)", "infinit", "in"),
    *("1_000", "١٢", "１２", "\u22121", "0x10", "1d5", "1,5", "1 000", "x1", "abc", "1e", "e1", ".", "-", "+"),
    *("..1", "+-1", "1e5.5", "1\x00", "²", "∞", "", " ", "\t\n", "\v", "\u00a0", "\x1c", None),
]


def _random_texts(n: int, seed: int) -> list[str | None]:
    """Decimal numbers of every shape (signs, leading zeros, long mantissas, exponents, padding), numbers halfway
    between two floats, and edge cases."""
    r = random.Random(seed)
    pads = [" ", "\t", "\n", "\v", "\u00a0", "", "", ""]

    def digits(k: int) -> str:
        return "".join(r.choice("0123456789") for _ in range(k))

    out: list[str | None] = []
    for _ in range(n):
        u = r.random()
        if u < 0.4:
            a, b = r.choice([0, 1, 2, 5, 17, 30]), r.choice([0, 1, 3, 20])
            body = digits(a) + (r.choice([".", ""]) if a else ".") + digits(b if a else max(b, 1))
            if r.random() < 0.3:
                body += r.choice("eE") + r.choice(["", "+", "-"]) + digits(r.choice([1, 2, 3, 25]))
            out.append(r.choice(pads) + r.choice(["", "", "+", "-"]) + body + r.choice(pads))
        elif u < 0.6:
            x = float(np.float64(r.uniform(-1, 1)) * 10.0 ** r.randint(-320, 300))
            y = np.nextafter(x, np.inf)
            out.append(f"{(x + float(y)) / 2!r}" if np.isfinite(y) else repr(x))
            out.append(f"{x:.25e}")
        elif u < 0.8:
            out.append(str(r.randint(0, 10 ** r.randint(1, 20))))
        else:
            out.append(r.choice(EDGES))
    return out


@pytest.mark.parametrize("kind", ["string", "large_string", "dictionary", "sliced"])
def test_text_reads_as_python_float_read_each_value(kind: str) -> None:
    texts = EDGES + _random_texts(4_000, 0)
    col = pa.array(texts, type=pa.large_string() if kind == "large_string" else pa.string())
    if kind == "dictionary":
        col = col.dictionary_encode()
    if kind == "sliced":
        col = col.slice(5, len(col) - 9)
    v, bad = parquet._dense(pa, pc, col)
    want_v, want_bad = _per_value(col.dictionary_decode() if kind == "dictionary" else col)
    np.testing.assert_array_equal(bad, want_bad)
    np.testing.assert_array_equal(v.view(np.uint64), want_v.view(np.uint64))  # bit for bit: -0.0 stays -0.0
    assert bad.sum() > 100 and (v != 0).sum() > 2_000


def test_text_arrow_refuses_is_read_value_by_value(monkeypatch) -> None:
    """A batch Arrow cannot cast (here: a pattern that lets every text through) is read per value, the same."""
    col = pa.array(EDGES + _random_texts(500, 1))
    monkeypatch.setattr(parquet, "_NUMBER", r".")
    v, bad = parquet._dense(pa, pc, col)
    want_v, want_bad = _per_value(col)
    np.testing.assert_array_equal(bad, want_bad)
    np.testing.assert_array_equal(v.view(np.uint64), want_v.view(np.uint64))


def _file(path: Path) -> Path:
    age = [" 12 ", "", None, "  ", "-7", "1e3", "-2.5E-1", "+3", ".5", "1.", "\u00a0", "1_000", "007", "-0"]
    n = 80
    texts = [age[k % len(age)] if k % 9 else f"{k}.25" for k in range(n)]
    texts[41], texts[57] = "x1", "NaN"
    table = pa.table(
        {
            "click": pa.array(np.arange(n) % 3 == 0),
            "age": pa.array(texts),
            "price": pa.array([f"{(k * 37) % 101 - 50}e{k % 4 - 2}" for k in range(n)], pa.large_string()),
            "user": pa.array([f"u{k % 6}" for k in range(n)]),
        }
    )
    pq.write_table(table, path, row_group_size=30)
    return path


@pytest.mark.parametrize(("log_dense", "dense_digest"), [(True, "7ba6f79277bc"), (False, "d1c21d1a36af")])
def test_prepared_text_dense_arrays_and_bad_rows_are_unchanged(tmp_path, monkeypatch, log_dense, dense_digest) -> None:
    """Digests computed with the per-value reading, batches of 16 rows over row groups of 30."""
    monkeypatch.setattr(parquet, "BATCH_ROWS", 16)
    f = _file(tmp_path / "t.parquet")
    opts = dict(label="click", dense=["age", "price"], sparse=["user"], min_count=1, log_dense=log_dense)
    data = prepare(f, "parquet", out=tmp_path / "p", **opts, progress=False)
    assert hashlib.sha256((tmp_path / "p" / "dense.npy").read_bytes()).hexdigest()[:12] == dense_digest
    assert len(data) == 78 and [(e.line, e.detail) for e in data.meta.bad_rows.examples] == [
        (42, "column age: 'x1' is not a number"),
        (58, "column age: 'NaN' is not a number"),
    ]
    with pytest.raises(DataError) as exc:
        prepare(f, "parquet", out=tmp_path / "q", **opts, on_bad_rows="error", progress=False)
    assert str(exc.value) == f"{f}: row 42: column age: 'x1' is not a number"
