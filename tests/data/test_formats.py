"""KDD Cup 2012 and generic CSV readers; the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nasrec.cli.data import app
from nasrec.data import DataError, kdd, prepare


def _kdd(tmp_path: Path, n: int = 40) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        clicks = int(i % 4 == 0) * (1 + i % 3)
        rows.append(
            "\t".join(
                str(v)
                for v in [
                    clicks,
                    1 + i % 5,
                    100 + i % 7,
                    200 + i % 3,
                    9,
                    1 + i % 3,
                    1 + i % 2,
                    rng.integers(1000),
                    5,
                    6,
                    7,
                    i % 6,
                ]
            )
        )
    train = tmp_path / "training.txt"
    train.write_text("\n".join(rows) + "\n")
    profile = tmp_path / "userid_profile.txt"
    profile.write_text("1\t1\t3\n2\t2\t5\n3\t1\t1\n")
    return train, profile


def test_kdd_with_profile(tmp_path: Path) -> None:
    train, profile = _kdd(tmp_path)
    data = prepare(train, "kdd", kdd_profile=profile, min_count=1, out=tmp_path / "k", progress=False)
    spec = data.spec
    assert spec.dense_names == ("Impression", "Depth", "Position") and spec.n_sparse == 10
    assert spec.sparse_names[-2:] == ("Gender", "Age")
    assert len(data) == 40 and data.meta.positives == 10  # label = clicks > 0
    np.testing.assert_allclose(data.dense[1], np.log1p([2, 2, 2]).astype(np.float32))
    user = np.arange(40) % 6
    known = (user >= 1) & (user <= 3)
    gender = np.asarray(data.sparse)[:, 8]
    assert ((gender == 0) == ~known).all()


def test_a_kdd_cache_hit_does_not_read_the_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train, profile = _kdd(tmp_path)
    reads: list[Path] = []
    real = kdd.load_profile
    monkeypatch.setattr(kdd, "load_profile", lambda path: reads.append(Path(path)) or real(path))
    first = prepare(train, "kdd", kdd_profile=profile, min_count=1, out=tmp_path / "k", progress=False)
    again = prepare(train, "kdd", kdd_profile=profile, min_count=1, out=tmp_path / "k", progress=False)
    assert not first.cache_hit and again.cache_hit and reads == [profile]
    with pytest.raises(DataError, match=r"^nothere.txt: no such file \(the KDD user profile\)$"):
        prepare(train, "kdd", kdd_profile="nothere.txt", out=tmp_path / "m", progress=False)


def test_kdd_without_profile(tmp_path: Path) -> None:
    train, _ = _kdd(tmp_path)
    data = prepare(train, "kdd", out=tmp_path / "k", progress=False)
    assert (np.asarray(data.sparse)[:, 8:] == 0).all() and data.spec.cardinalities[8:] == (2, 2)


def test_generic_csv(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    lines = ["a,b,click,c,d"] + [f"{i},{i * 0.5},{i % 2},x{i % 3},{'' if i % 4 == 0 else 'y'}" for i in range(50)]
    lines.insert(5, "1,2,1,x")  # line 6: 4 fields
    f.write_text("\n".join(lines) + "\n")
    data = prepare(f, "csv", label="click", dense=["a", "b"], sparse=["c", "d"], progress=False)
    assert len(data) == 50 and data.meta.bad_rows.examples[0].line == 6
    assert data.spec.dense_names == ("a", "b") and data.spec.sparse_names == ("c", "d")
    assert data.spec.label_name == "click" and data.spec.cardinalities == (5, 3)
    np.testing.assert_allclose(data.dense[3], np.log1p([3, 1.5]).astype(np.float32))
    with pytest.raises(DataError, match=r"line 6: 4 fields, expected 5"):
        prepare(f, "csv", label="click", dense=["a", "b"], sparse=["c", "d"], on_bad_rows="error")


def test_csv_quoted_fields_are_rejected(tmp_path: Path) -> None:
    f = tmp_path / "q.csv"
    f.write_text("y,c\n" + "".join(f"{i % 2},v{i}\n" for i in range(30)) + '1,"a"\n')
    data = prepare(f, "csv", label="y", sparse=["c"], progress=False)
    assert data.meta.bad_rows.by_rule == {"quoted field": 1} and data.meta.bad_rows.examples[0].line == 32


def test_csv_a_quote_inside_a_field_is_text_and_only_a_field_starting_with_one_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "q.csv"
    rows = [f"{i % 2},v{i % 3},Mozilla/5.0 {i}" for i in range(30)]
    rows[3] = '1,v0,Mozilla/5.0 "quoted" agent'  # line 5: a quote mid-field, in a column not read
    rows[4] = '0,say "hi",x'  # line 6: a quote mid-field, in a column read
    rows[5] = '"1",v1,x'  # line 7: the first field quoted
    rows[6] = '0,"v2",x'  # line 8: a quoted field after a delimiter
    f.write_text("y,c,agent\n" + "\n".join(rows) + "\n")
    data = prepare(f, "csv", label="y", sparse=["c"], min_count=1, progress=False)
    assert data.meta.bad_rows.by_rule == {"quoted field": 2}
    assert [e.line for e in data.meta.bad_rows.examples] == [7, 8]
    assert len(data) == 28 and data.meta.positives == 14 and data.spec.cardinalities == (6,)  # 4 values: 'say "hi"'


runner = CliRunner()


def test_cli_prepare_info_sample(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("a,c,y\n" + "".join(f"{i},v{i % 4},{i % 2}\n" for i in range(40)))
    r = runner.invoke(
        app, ["prepare", "--csv", str(f), "--label", "y", "--dense", "a", "--sparse", "c", "--out", str(tmp_path / "p")]
    )
    assert r.exit_code == 0, r.output
    assert "40 rows" in r.output
    r = runner.invoke(app, ["info", str(tmp_path / "p")])
    assert r.exit_code == 0
    rows = {m[1]: (int(m[2]), m[3]) for m in re.finditer(r"\b(train|valid|test)\W+(\d+)\W+(\d\.\d{4})", r.output)}
    assert rows == {"train": (32, "0.5000"), "valid": (4, "0.5000"), "test": (4, "0.5000")}  # folds 0-7, 8, 9
    r = runner.invoke(app, ["sample", "criteo-scattered"])
    assert r.exit_code == 0 and "4,370 rows" in r.output


def test_cli_user_errors(tmp_path: Path) -> None:
    r = runner.invoke(app, ["prepare", "--csv", str(tmp_path / "none.csv"), "--label", "y", "--sparse", "c"])
    assert r.exit_code == 1 and r.output.startswith("error: ") and "no such file" in r.output
    assert "Traceback" not in r.output
    r = runner.invoke(app, ["info", str(tmp_path)])
    assert r.exit_code == 1 and "not a prepared data folder" in r.output
    r = runner.invoke(app, ["info", str(tmp_path / "missing")])  # was: "not a prepared data folder"
    assert (r.exit_code, r.output) == (1, f"error: {tmp_path / 'missing'}: no such folder\n")
    r = runner.invoke(app, ["prepare", "--csv", str(tmp_path), "--label", "y", "--sparse", "c"])  # was: no such file
    assert (r.exit_code, r.output) == (1, f"error: {tmp_path}: a folder, not a file\n")
    r = runner.invoke(app, ["prepare"])
    assert r.exit_code == 1 and "exactly one of" in r.output
    r = runner.invoke(app, ["synthetic", "-o", str(tmp_path / "s"), "--teacher-scale", "3"])  # was: ignored
    assert (r.exit_code, r.output) == (
        1,
        "error: --teacher-scale: applies only to a genotype teacher (zoo:<name>, random:<space> or a file), not "
        "planted\n",
    )
    r = runner.invoke(app, ["synthetic", "-o", str(tmp_path / "s"), "--positive-rate", "1.5"])
    assert (r.exit_code, r.output) == (1, "error: --positive-rate: between 0 and 1, got 1.5\n")
    r = runner.invoke(app, ["synthetic", "-o", str(tmp_path / "s"), "--rows", "10"])
    assert (r.exit_code, r.output) == (  # not the teacher's fault: the flag, the labels drawn, the way on
        1,
        "error: --rows 10: 10 rows, by label 0: 6, 1: 4: a stratified split into 10 folds needs 10 rows of a label; "
        "draw more rows\n",
    )
    assert not (tmp_path / "s").exists()
    r = runner.invoke(app, ["synthetic", "-o", str(tmp_path / "one"), "--rows", "12", "--positive-rate", "0.01"])
    assert r.exit_code == 0 and r.stderr == (
        "warning: every row has label 0: a model learns nothing from it, and AUC is undefined\n"
    )


def test_a_blank_line_in_the_kdd_profile_is_skipped_and_a_bad_one_still_named(tmp_path: Path) -> None:
    train, profile = _kdd(tmp_path)
    plain = prepare(train, "kdd", kdd_profile=profile, min_count=1, out=tmp_path / "a", progress=False)
    profile.write_text("1\t1\t3\n\n2\t2\t5\n3\t1\t1\n\n")
    blank = prepare(train, "kdd", kdd_profile=profile, min_count=1, out=tmp_path / "b", progress=False)
    assert (np.asarray(blank.sparse) == np.asarray(plain.sparse)).all()
    profile.write_text("1\t1\t3\n\n2\t2\n")
    with pytest.raises(DataError, match=r"userid_profile.txt, line 3: 2 fields, expected 3"):
        prepare(train, "kdd", kdd_profile=profile, out=tmp_path / "c", progress=False)


def test_a_csv_header_with_a_byte_order_mark_reads_its_first_column(tmp_path: Path) -> None:
    f = tmp_path / "bom.csv"
    f.write_bytes("\ufeffclick,a,c\n".encode() + b"".join(f"{i % 2},{i},x{i % 3}\n".encode() for i in range(30)))
    data = prepare(f, "csv", label="click", dense=["a"], sparse=["c"], progress=False)
    assert len(data) == 30 and data.spec.label_name == "click" and data.meta.positives == 15


def test_cli_prepare_into_a_folder_it_cannot_write_is_one_line_naming_the_path(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("a,c,y\n" + "".join(f"{i},v{i % 4},{i % 2}\n" for i in range(40)))
    r = runner.invoke(
        app, ["prepare", "--csv", str(f), "--label", "y", "--sparse", "c", "--out", "/proc/nasrec-data"], color=False
    )
    assert r.exit_code == 1, r.output
    assert r.output == "error: /proc/nasrec-data: cannot write here: No such file or directory\n"
    r = runner.invoke(app, ["synthetic", "--rows", "100", "--out", "/proc/nasrec-oracle"], color=False)
    assert r.exit_code == 1 and r.output.startswith("error: /proc/nasrec-oracle") and "Traceback" not in r.output


def test_a_vocabulary_grown_past_the_threshold_warns_once_in_one_line(tmp_path: Path, monkeypatch) -> None:
    from nasrec.data import encoding

    monkeypatch.setattr(encoding, "VOCAB_WARN", 50)
    f = tmp_path / "t.csv"
    f.write_text("a,c,y\n" + "".join(f"{i},v{i},{i % 2}\n" for i in range(200)))
    r = runner.invoke(app, ["prepare", "--csv", str(f), "--label", "y", "--sparse", "c", "--out", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    warned = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert warned == [
        "warning: vocab encoding holds 200 distinct values so far (about 0 GiB of memory, growing): for data this "
        "large prefer --encoding hash (prepare(..., encoding='hash'))"
    ]
    with pytest.warns(UserWarning, match="vocab encoding holds 200 distinct values"):
        prepare(f, "csv", label="y", sparse=["c"], out=tmp_path / "q", progress=False)
