"""Parquet input: the same arrays as the same table in CSV, several files with streamed row groups, bad rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nasrec.cli.data import app
from nasrec.data import DataError, PreparedData, parquet, prepare

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

N = 60


def _table(lo: int, hi: int):
    i = np.arange(lo, hi)
    price = [None if k % 7 == 3 else int(k % 11) for k in i]
    return pa.table(
        {
            "click": pa.array((i % 3 == 0).astype(np.int64)),
            "price": pa.array(price, type=pa.int64()),
            "age": pa.array((i % 5) * 1.5),
            "user": pa.array([None if k % 9 == 4 else f"u{k % 6}" for k in i]),
            "item": pa.array((i % 4) + 10),
        }
    )


def _csv(path: Path, table) -> Path:
    lines = ["click,price,age,user,item"]
    for r in table.to_pylist():
        cells = [r["click"], r["price"], r["age"], r["user"], r["item"]]
        cells[2] = f"{cells[2]:g}"
        lines.append(",".join("" if c is None else str(c) for c in cells))
    path.write_text("\n".join(lines) + "\n")
    return path


COLS = dict(label="click", dense=["price", "age"], sparse=["user", "item"])


@pytest.mark.parametrize("encoding", ["vocab", "hash"])
def test_parquet_files_prepare_as_the_same_table_in_csv(tmp_path, monkeypatch, encoding) -> None:
    monkeypatch.setattr(parquet, "BATCH_ROWS", 8)  # several batches per row group, several row groups per file
    files = []
    for k, (lo, hi) in enumerate([(0, 25), (25, 40), (40, N)]):
        files.append(tmp_path / f"part-{k}.parquet")
        pq.write_table(_table(lo, hi), files[-1], row_group_size=10)
    assert [pq.ParquetFile(f).num_row_groups for f in files] == [3, 2, 2]
    by_encoding = {"hash_sizes": 97} if encoding == "hash" else {"min_count": 1}
    opts = dict(COLS, encoding=encoding, **by_encoding, progress=False)
    got = prepare(files, "parquet", out=tmp_path / "pq", **opts)
    want = prepare(_csv(tmp_path / "all.csv", _table(0, N)), "csv", out=tmp_path / "csv", **opts)
    assert len(got) == N and got.meta.positives == 20 and got.meta.bad_rows.total == 0
    assert got.meta.source == "part-0.parquet, part-1.parquet, part-2.parquet"
    for name in ("dense", "sparse", "label", "folds"):
        np.testing.assert_array_equal(np.asarray(getattr(got, name)), np.asarray(getattr(want, name)))
    assert got.spec.cardinalities == want.spec.cardinalities
    assert got.spec.cardinalities == ((97, 97) if encoding == "hash" else (8, 6))  # 6 users + missing, other
    np.testing.assert_allclose(got.dense[3], np.log1p([0.0, 4.5]).astype(np.float32))  # price null -> 0
    assert prepare(files, "parquet", out=tmp_path / "pq", **opts).cache_hit


def _bad_files(tmp_path: Path) -> list[Path]:
    a = _table(0, 20).to_pydict()
    a["click"][2] = None
    a["click"][5] = 2
    b = _table(20, 40).to_pydict()
    b["age"][0] = float("inf")
    b["age"][1] = float("nan")  # missing, not bad
    files = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    pq.write_table(pa.table(a), files[0], row_group_size=6)
    text = [f"{v:g}" for v in b["age"]]
    text[1], text[3] = "", "x1"  # text dense: "" is missing, "inf" and "x1" are bad rows
    tb = pa.table(b).set_column(2, "age", pa.array(text))
    pq.write_table(pa.table(b), files[1])
    pq.write_table(tb, tmp_path / "c.parquet")
    return [*files, tmp_path / "c.parquet"]


def test_bad_rows_are_skipped_counted_and_numbered_across_files(tmp_path) -> None:
    a, b, c = _bad_files(tmp_path)
    data = prepare([a, b, c], "parquet", out=tmp_path / "p", **COLS, min_count=1, progress=False)
    report = data.meta.bad_rows
    assert len(data) == 60 - 5 and report.total == 5
    assert report.by_rule == {"bad label": 2, "non-numeric dense value": 3}
    assert [(e.line, e.detail) for e in report.examples] == [
        (3, "label is null"),
        (6, "label 2 is not 0 or 1"),
        (21, "column age: inf is not a number"),
        (41, "column age: 'inf' is not a number"),
        (44, "column age: 'x1' is not a number"),
    ]
    assert data.dense[18][1] == 0.0  # row 22 (NaN age; 18 rows of a kept before it): missing -> 0
    with pytest.raises(DataError) as exc:
        prepare([a, b], "parquet", out=tmp_path / "q", **COLS, on_bad_rows="error", progress=False)
    assert str(exc.value) == f"{a}: row 3 (row 3 counted across the files, in order): label is null"
    clean = tmp_path / "clean.parquet"
    pq.write_table(_table(40, 57), clean)
    with pytest.raises(DataError) as exc:  # in the second file: its own row number, and the report's
        prepare([clean, a], "parquet", out=tmp_path / "q", **COLS, on_bad_rows="error", progress=False)
    assert str(exc.value) == f"{a}: row 3 (row 20 counted across the files, in order): label is null"
    with pytest.raises(DataError) as exc:  # one file: its rows
        prepare([a], "parquet", out=tmp_path / "q", **COLS, on_bad_rows="error", progress=False)
    assert str(exc.value) == f"{a}: row 3: label is null"


def test_a_file_given_twice_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its rows' numbers in messages were keyed by path: the second copy's came out negative (row -25)."""
    a, b, _ = _bad_files(tmp_path)
    with pytest.raises(DataError) as exc:
        prepare([a, b, a], "parquet", out=tmp_path / "p", **COLS, progress=False)
    assert str(exc.value) == f"{a}: given more than once; give each file once"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as exc:
        prepare([a, b, Path("b.parquet")], "parquet", out=tmp_path / "p", **COLS, progress=False)
    assert str(exc.value) == f"b.parquet: given more than once (as {b}); give each file once"
    r = CliRunner().invoke(app, ["prepare", "--parquet", str(a), str(a), "--label", "click", "--sparse", "user"])
    assert (r.exit_code, r.stderr) == (1, f"error: {a}: given more than once; give each file once\n")
    assert not (tmp_path / "p").exists()


def test_decimal_and_all_null_dense_columns_are_numbers_and_missing_values(tmp_path: Path) -> None:
    from decimal import Decimal

    n = 40
    table = pa.table(
        {
            "click": pa.array(np.arange(n) % 2),
            "price": pa.array([Decimal(f"{k % 5}.50") for k in range(n)], pa.decimal128(10, 2)),
            "none": pa.nulls(n),
            "item": pa.array([f"i{k % 3}" for k in range(n)]),
        }
    )
    pq.write_table(table, tmp_path / "d.parquet")
    data = prepare(
        tmp_path / "d.parquet", "parquet", label="click", dense=["price", "none"], sparse=["item"], progress=False
    )
    assert len(data) == n and data.meta.bad_rows.total == 0
    np.testing.assert_allclose(data.dense[:5, 0], np.log1p([0.5, 1.5, 2.5, 3.5, 4.5]).astype(np.float32))
    assert (np.asarray(data.dense)[:, 1] == 0).all()


def test_cli_takes_several_files_after_one_flag(tmp_path) -> None:
    a, b, _ = _bad_files(tmp_path)
    flags = ["--label", "click", "--dense", "price,age", "--sparse", "user,item", "--min-count", "1"]
    r = CliRunner().invoke(app, ["prepare", "--parquet", str(a), str(b), *flags, "--out", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert "(37 rows, positive rate 0.3784)" in r.stdout  # 14 of the 37 kept rows are clicks
    assert "a.parquet, b.parquet: skipped 3 bad rows (2 bad label, 1 non-numeric dense value); rows 3, 6, 21" in (
        r.stderr
    )
    r = CliRunner().invoke(app, ["prepare", "--csv", str(a), str(b), *flags])
    assert (
        r.exit_code == 1
        and r.stderr.strip() == f"error: unexpected argument(s) {b} (only --parquet takes several files)"
    )


def test_cli_keeps_the_command_lines_order_of_files_given_before_parquet(tmp_path: Path) -> None:
    """Files given positionally before --parquet were moved after its file, reordering the rows."""
    files = []
    for k, (lo, hi) in enumerate([(0, 25), (25, 40), (40, N)]):
        files.append(tmp_path / f"part-{k}.parquet")
        pq.write_table(_table(lo, hi), files[-1])
    a, b, c = map(str, files)
    for k, argv in enumerate(
        [
            [b, "--label", "click", "--parquet", a, "--dense=price,age", c, "--sparse", "user,item"],
            ["--parquet", b, a, "--label", "click", "--dense", "price,age", "--sparse", "user,item", "--", c],
            [b, a, "--label", "click", "--dense", "price,age", "--sparse", "user,item", "--parquet", c],
        ]
    ):
        r = CliRunner().invoke(app, ["prepare", "--out", str(tmp_path / f"p{k}"), *argv])
        assert r.exit_code == 0, r.output
    got = [PreparedData.open(tmp_path / f"p{k}").meta.source for k in range(3)]
    assert got == [
        "part-1.parquet, part-0.parquet, part-2.parquet",
        "part-1.parquet, part-0.parquet, part-2.parquet",
        "part-1.parquet, part-0.parquet, part-2.parquet",
    ]


def test_missing_column_and_non_parquet_files_are_one_line_errors(tmp_path) -> None:
    f = tmp_path / "t.parquet"
    pq.write_table(_table(0, 20).drop(["item"]), f)
    with pytest.raises(DataError, match=r"t\.parquet: lacks column\(s\) item \(has: click, price, age, user\)$"):
        prepare(f, "parquet", **COLS)
    txt = tmp_path / "x.parquet"
    txt.write_text("click,a\n1,2\n")
    r = CliRunner().invoke(app, ["prepare", "--parquet", str(txt), "--label", "click", "--sparse", "a"])
    assert r.exit_code == 1 and r.stderr.startswith(f"error: {txt}: not a Parquet file (")
    assert len(r.stderr.strip().splitlines()) == 1


def test_binary_columns_are_keyed_by_their_bytes_and_nested_ones_refused(tmp_path: Path) -> None:
    labels = pa.array(np.arange(40) % 2)
    text = [f"u{k % 5}" for k in range(40)]
    pq.write_table(pa.table({"y": labels, "s": pa.array(text)}), tmp_path / "text.parquet")
    pq.write_table(pa.table({"y": labels, "s": pa.array([t.encode() for t in text])}), tmp_path / "bytes.parquet")
    raw = [bytes([0xFF, k % 5]) for k in range(40)]  # not UTF-8
    pq.write_table(pa.table({"y": labels, "s": pa.array(raw, type=pa.binary())}), tmp_path / "raw.parquet")
    as_text, as_bytes, not_utf8 = (
        prepare(tmp_path / f"{name}.parquet", "parquet", label="y", sparse=["s"], out=tmp_path / name, progress=False)
        for name in ("text", "bytes", "raw")
    )
    assert (np.asarray(as_text.sparse) == np.asarray(as_bytes.sparse)).all()
    assert len(not_utf8) == 40 and not_utf8.spec.cardinalities == as_text.spec.cardinalities  # 5 values each
    pq.write_table(pa.table({"y": labels, "s": pa.array([[k] for k in range(40)])}), tmp_path / "list.parquet")
    with pytest.raises(DataError, match=r"list.parquet: column s holds list<element: int64> values; one value"):
        prepare(tmp_path / "list.parquet", "parquet", label="y", sparse=["s"], out=tmp_path / "l", progress=False)


def test_blank_dense_text_is_missing_in_both_and_typed_labels_are_parquets_only_extra(tmp_path: Path) -> None:
    """A blank dense cell is missing in a CSV as in Parquet (a CSV made it a bad row); booleans and 1.0 are
    labels only in Parquet, whose typed values allow them (a CSV's label is the text 0 or 1)."""
    n = 30
    age = [" " if k % 5 == 2 else f"{k}" for k in range(n)]
    table = pa.table(
        {"click": pa.array(np.arange(n) % 3 == 0), "age": pa.array(age), "user": [f"u{k % 4}" for k in range(n)]}
    )
    pq.write_table(table, tmp_path / "t.parquet")
    csv = tmp_path / "t.csv"
    csv.write_text("click,age,user\n" + "".join(f"{int(k % 3 == 0)},{age[k]},u{k % 4}\n" for k in range(n)))
    opts = dict(label="click", dense=["age"], sparse=["user"], min_count=1, progress=False)
    got = prepare(tmp_path / "t.parquet", "parquet", out=tmp_path / "pq", **opts)
    want = prepare(csv, "csv", out=tmp_path / "csv", **opts)
    assert len(got) == len(want) == n and got.meta.bad_rows.total == want.meta.bad_rows.total == 0
    for name in ("dense", "sparse", "label", "folds"):
        np.testing.assert_array_equal(np.asarray(getattr(got, name)), np.asarray(getattr(want, name)))
    assert float(got.dense[2, 0]) == 0.0 and got.meta.positives == 10
    pq.write_table(table.set_column(0, "click", pa.array((np.arange(n) % 3 == 0) * 1.0)), tmp_path / "f.parquet")
    assert prepare(tmp_path / "f.parquet", "parquet", out=tmp_path / "f", **opts).meta.positives == 10
    csv.write_text("click,age,user\n" + "".join(f"{'true' if k % 3 == 0 else '0'},{k},u{k % 4}\n" for k in range(n)))
    with pytest.raises(DataError) as exc:
        prepare(csv, "csv", out=tmp_path / "c2", **opts, on_bad_rows="error")
    assert str(exc.value) == f"{csv}, line 2: label 'true' is not 0 or 1"
