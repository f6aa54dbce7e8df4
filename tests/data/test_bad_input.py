"""Corrupted files: exact counts, line numbers and messages, under both policies."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from nasrec.data import DataError, prepare
from nasrec.data.samples import CRITEO_HEAD, sample_file


def _lines(n: int = 30) -> list[bytes]:
    return gzip.decompress(sample_file(CRITEO_HEAD).read_bytes()).split(b"\n")[:n]


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture
def corrupted(tmp_path: Path) -> Path:
    lines = _lines()
    lines[2] = b"\t".join(lines[2].split(b"\t")[:7])  # line 3: truncated to 7 fields
    lines[4] = lines[4] + b"\textra"  # line 5: 41 fields
    f = lines[6].split(b"\t")
    f[3] = b"abc"  # line 7: text in I3
    lines[6] = b"\t".join(f)
    lines[9] = b"2" + lines[9][1:]  # line 10: label 2
    lines[11] = b"\t".join(lines[11].split(b"\t")[:30])  # line 12: 30 fields, padded (not bad)
    return _write(tmp_path / "bad.tsv", lines)


def test_skip_counts_and_lines(corrupted: Path, tmp_path: Path) -> None:
    data = prepare(corrupted, "criteo", out=tmp_path / "p", progress=False)
    report = data.meta.bad_rows
    assert len(data) == 26 and report.total == 4
    assert [(e.line, e.rule) for e in report.examples] == [
        (3, "field count"),
        (5, "field count"),
        (7, "non-numeric dense value"),
        (10, "bad label"),
    ]
    assert report.examples[0].detail == "7 fields, expected 14 to 40"
    assert report.examples[1].detail == "41 fields, expected 14 to 40"
    assert report.examples[2].detail == "column I3: 'abc' is not a number"
    assert report.examples[3].detail == "label '2' is not 0 or 1"
    assert report.by_rule == {"field count": 2, "non-numeric dense value": 1, "bad label": 1}
    assert "skipped 4 bad rows" in report.summary("bad.tsv") and "lines 3, 5, 7, 10" in report.summary("bad.tsv")
    # the padded short row (line 12 -> row 9 after skipping lines 3, 5, 7, 10) has missing tail fields
    assert (data.sparse[11 - 4, 30 - 14 :] == 0).all()


def test_error_policy_stops_at_first(corrupted: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError) as e:
        prepare(corrupted, "criteo", out=tmp_path / "p", on_bad_rows="error", progress=False)
    assert str(e.value) == f"{corrupted}, line 3: 7 fields, expected 14 to 40"
    assert e.value.line == 3 and e.value.rule == "field count"
    assert not (tmp_path / "p").exists()
    assert not list(tmp_path.glob(".p.tmp-*"))  # nothing half-written left behind


@pytest.mark.parametrize("policy", ["skip", "error"])
def test_empty_file(tmp_path: Path, policy: str) -> None:
    empty = tmp_path / "empty.tsv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.tsv, line 1: empty file"):
        prepare(empty, "criteo", on_bad_rows=policy, progress=False)


@pytest.mark.parametrize("policy", ["skip", "error"])
def test_gzip_cut_short(tmp_path: Path, policy: str) -> None:
    blob = sample_file(CRITEO_HEAD).read_bytes()
    cut = tmp_path / "cut.tsv.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError) as e:
        prepare(cut, "criteo", out=tmp_path / "p", on_bad_rows=policy, progress=False)
    # no line number: decompression fails somewhere in a chunk, at no line the reader knows
    assert str(e.value) == (
        f"{cut}: compressed stream is damaged or cut short (Compressed file ended before the "
        "end-of-stream marker was reached)"
    )
    assert e.value.line is None
    assert not (tmp_path / "p").exists() and not list(tmp_path.glob(".p.tmp-*"))


def test_wrong_format(tmp_path: Path) -> None:
    avazu = sample_file("avazu_train_head10k.csv.gz")
    with pytest.raises(
        DataError,
        match=r"line 1: no valid rows; the first bad row: 1 fields, expected 14 to 40 "
        r"\(is this a criteo file\?\)",
    ):
        prepare(avazu, "criteo", progress=False)
    with pytest.raises(DataError, match=r"line 1: not an Avazu train.csv: header lacks column\(s\) id, click"):
        prepare(sample_file(CRITEO_HEAD), "avazu", progress=False)


def test_missing_csv_column(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("a,b,y\n1,x,0\n")
    with pytest.raises(DataError, match=r"t\.csv, line 1: header lacks column\(s\) c \(has: a, b, y\)"):
        prepare(f, "csv", label="y", dense=["a"], sparse=["b", "c"], progress=False)


def test_header_only(tmp_path: Path) -> None:
    f = tmp_path / "h.csv"
    f.write_text("a,b,y\n")
    with pytest.raises(DataError, match=r"h\.csv, line 1: no data rows"):
        prepare(f, "csv", label="y", dense=["a"], sparse=["b"], progress=False)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        prepare(tmp_path / "nope.tsv", "criteo")


def test_cli_prints_the_skipped_rows_summary_once(corrupted: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nasrec.cli.data import app

    for run in ("prepared", "cached"):
        r = CliRunner().invoke(app, ["prepare", "--criteo", str(corrupted), "--out", str(tmp_path / "p")])
        assert r.exit_code == 0 and r.stdout.startswith(f"{run}: {tmp_path / 'p'}  (26 rows")
        assert r.stderr == (
            f"{corrupted.name}: skipped 4 bad rows (1 bad label, 2 field count, 1 non-numeric dense "
            "value); lines 3, 5, 7, 10\n"
        )


def test_cli_damaged_gzip_names_no_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nasrec.cli.data import app

    blob = sample_file(CRITEO_HEAD).read_bytes()
    cut = tmp_path / "cut.tsv.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    r = CliRunner().invoke(app, ["prepare", "--criteo", str(cut), "--out", str(tmp_path / "p")])
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (
        f"error: {cut}: compressed stream is damaged or cut short (Compressed file ended before the "
        "end-of-stream marker was reached)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.tsv.gz"]


def test_a_split_smaller_than_one_batch_is_a_data_error() -> None:
    import numpy as np

    from nasrec.data import FeatureSpec, PreparedData

    rng = np.random.default_rng(0)
    data = PreparedData.from_arrays(
        rng.random((200, 2), dtype=np.float32),
        rng.integers(0, 5, (200, 1)),
        np.arange(200) % 2,
        FeatureSpec.synthetic(2, (5,)),
    )
    train = data.split("train")
    assert len(train) == 160 and train.full_batches(64) == 2
    with pytest.raises(DataError) as e:
        train.full_batches(512)
    assert str(e.value) == (
        "arrays data in memory: the train split has 160 rows, fewer than one batch of 512 (use a "
        "smaller batch size or more data)"
    )


def test_a_short_row_last_in_the_file_is_padded_like_any_other(tmp_path: Path) -> None:
    lines = _lines(21)
    lines[20] = b"\t".join(lines[20].split(b"\t")[:14])  # the last line: label, 13 dense, no sparse field
    whole = _lines(21)
    data = prepare(_write(tmp_path / "short.tsv", lines), "criteo", out=tmp_path / "p", progress=False)
    full = prepare(_write(tmp_path / "full.tsv", whole), "criteo", out=tmp_path / "q", progress=False)
    assert len(data) == 21 and data.meta.bad_rows.total == 0
    assert (data.sparse[20] == 0).all() and (data.dense == full.dense).all()  # missing fields: id 0


def test_a_bad_cap_or_an_out_path_that_is_a_file_is_one_error_before_any_work(tmp_path: Path) -> None:
    source = _write(tmp_path / "rows.tsv", _lines(20))
    with pytest.raises(DataError, match=r"^cap must be at least 2 \(rows per table\), got 1$"):
        prepare(source, "criteo", out=tmp_path / "p", cap=1, progress=False)
    (tmp_path / "afile").write_text("mine")
    for out, message in ((tmp_path / "afile", "is a file"), (tmp_path / "afile" / "sub", f"{tmp_path / 'afile'} is")):
        with pytest.raises(DataError, match=rf"^{out}: {message}.* not a folder; choose another --out$"):
            prepare(source, "criteo", out=out, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "rows.tsv"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"label": "click"},
            "criteo files have fixed columns; label, dense and sparse column names (--label, --dense, --sparse) "
            "are for csv and parquet",
        ),
        ({"sparse": ["C1"]}, "criteo files have fixed columns;"),
        ({"kdd_profile": "userid_profile.txt"}, "a KDD user profile (--kdd-profile) goes with format kdd, not criteo"),
        ({"hash_sizes": 1000}, "hash sizes (--hash-size) need encoding hash (--encoding hash)"),
    ],
)
def test_an_option_the_format_or_encoding_would_ignore_is_an_error(tmp_path: Path, options: dict, message: str) -> None:
    source = _write(tmp_path / "rows.tsv", _lines(20))
    with pytest.raises(DataError, match=f"^{re.escape(message)}"):
        prepare(source, "criteo", out=tmp_path / "p", progress=False, **options)
    assert not (tmp_path / "p").exists()


def test_a_file_without_line_feeds_is_refused_after_a_bounded_read(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("nasrec.data.rawio.MAX_LINE_BYTES", 1 << 16)
    rows = b"\r".join(_lines(2000)) + b"\r"  # CR line endings: one "line" of ~540 KB
    source = tmp_path / "cr.tsv"
    source.write_bytes(rows)
    with pytest.raises(DataError) as exc:
        prepare(source, "criteo", out=tmp_path / "p", progress=False)
    assert str(exc.value) == (
        f"{source}, line 1: a line longer than 65,536 bytes: not a line-oriented text file (its lines end in CR "
        "alone: convert them to LF or CRLF)"
    )
    header = tmp_path / "cr.csv"
    header.write_bytes(b"label,a0\r" + b"\r".join(b"%d,x%d" % (i % 2, i) for i in range(40)))
    with pytest.raises(DataError) as exc:
        prepare(header, "csv", label="label", sparse=["a"], progress=False)
    assert str(exc.value) == (
        f"{header}, line 1: the header line holds a carriage return: the file's lines end in CR alone; convert "
        "them to LF or CRLF"
    )
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(["label", *(f"c{i}" for i in range(99))]) + "\n" + ",".join(["1"] * 100) + "\n")
    with pytest.raises(DataError) as exc:
        prepare(wide, "csv", label="label", sparse=["a"], progress=False)
    assert str(exc.value).endswith(
        f"header lacks column(s) a (has: label, {', '.join(f'c{i}' for i in range(29))}, ... (100 in all))"
    )


def test_from_arrays_refuses_ids_outside_their_cardinality_and_mismatched_arrays(tmp_path: Path) -> None:
    """An id >= its cardinality was wrapped on save (300 with cardinality 200 saved as uint8 44); arrays of
    different row counts were accepted."""
    import numpy as np

    from nasrec.data import FeatureSpec, PreparedData

    spec = FeatureSpec.synthetic(2, (5, 200))
    dense, label = np.zeros((40, 2), dtype=np.float32), np.arange(40) % 2
    sparse = np.ones((40, 2), dtype=np.int64)
    sparse[7, 1] = 300
    with pytest.raises(DataError) as e:
        PreparedData.from_arrays(dense, sparse, label, spec)
    assert str(e.value) == (
        "PreparedData.from_arrays: sparse[7, 1] (column C2) is 300, outside 0..199 (its cardinality is 200)"
    )
    sparse[7, 1], sparse[9, 0] = 1, -1
    with pytest.raises(DataError) as e:
        PreparedData.from_arrays(dense, sparse, label, spec)
    assert str(e.value) == (
        "PreparedData.from_arrays: sparse[9, 0] (column C1) is -1, outside 0..4 (its cardinality is 5)"
    )
    sparse[9, 0] = 4
    with pytest.raises(DataError) as e:
        PreparedData.from_arrays(dense, sparse[:39], label, spec, prob=np.full(40, 0.5))
    assert str(e.value) == (
        "PreparedData.from_arrays: arrays of different row counts: dense 40, sparse 39, label 40, prob 40"
    )
    with pytest.raises(DataError) as e:
        PreparedData.from_arrays(dense[:, :1], sparse, label, spec)
    assert str(e.value) == (
        "PreparedData.from_arrays: dense has shape [40, 1], expected [rows, 2] (the spec's dense features)"
    )
    with pytest.raises(DataError) as e:
        PreparedData.from_arrays(dense, sparse.astype(np.float64), label, spec)
    assert str(e.value) == "PreparedData.from_arrays: sparse ids must be integers, got float64"
    saved = PreparedData.from_arrays(dense, sparse, label, spec).save(tmp_path / "ok")  # the edges are valid
    assert np.asarray(saved.sparse).max(axis=0).tolist() == [4, 1]
