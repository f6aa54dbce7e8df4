"""`nasrec data prepare`: a flag given where it means nothing (`--min-count` with hash encoding, `--delimiter`
for an input other than a CSV) is refused naming it, where it was ignored; left out, it is the default."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasrec.cli.data import app
from nasrec.data import DataError, prepare

runner = CliRunner()


def _prepare(*args: str):
    return runner.invoke(app, ["prepare", *args], env={"COLUMNS": "200"})


def _csv(tmp_path: Path, sep: str = ",") -> Path:
    f = tmp_path / "t.csv"
    f.write_text(
        sep.join("ayc") + "\n" + "".join(sep.join([str(i), str(i % 2), f"v{i % 4}"]) + "\n" for i in range(40))
    )
    return f


def test_min_count_with_hash_encoding_is_refused(tmp_path: Path) -> None:
    base = ["--csv", str(_csv(tmp_path)), "--label", "y", "--sparse", "c", "--out", str(tmp_path / "p")]
    for count in ("2", "0"):  # the default's value given, and one that is out of range: the same error
        result = _prepare(*base, "--encoding", "hash", "--hash-size", "97", "--min-count", count)
        assert (result.exit_code, result.stderr, result.stdout) == (
            1,
            "error: --min-count: applies only to vocab encoding (--encoding hash hashes every value)\n",
            "",
        )
    assert not (tmp_path / "p").exists() and not list(tmp_path.glob(".p.tmp-*"))
    hashed = _prepare(*base, "--encoding", "hash", "--hash-size", "97")
    assert hashed.exit_code == 0, hashed.output
    vocab = _prepare(*base[:-1], str(tmp_path / "v"), "--min-count", "1")
    assert vocab.exit_code == 0, vocab.output


@pytest.mark.parametrize(
    ("flag", "why"),
    [
        ("--criteo", "Criteo files are tab-separated"),
        ("--avazu", "Avazu files are comma-separated"),
        ("--kdd", "KDD files are tab-separated"),
        ("--parquet", "Parquet files have no delimiter"),
    ],
)
def test_delimiter_for_an_input_other_than_csv_is_refused(tmp_path: Path, flag: str, why: str) -> None:
    result = _prepare(flag, str(_csv(tmp_path)), "--delimiter", ",", "--out", str(tmp_path / "p"))
    assert (result.exit_code, result.stderr, result.stdout) == (
        1,
        f"error: --delimiter: applies only to --csv ({why})\n",
        "",
    )
    assert not (tmp_path / "p").exists() and not list(tmp_path.glob(".p.tmp-*"))


def test_flags_left_out_are_the_defaults_and_a_csv_takes_its_delimiter(tmp_path: Path) -> None:
    plain = _prepare("--csv", str(_csv(tmp_path)), "--label", "y", "--sparse", "c")
    assert plain.exit_code == 0 and plain.stdout.startswith("prepared: "), plain.output
    again = prepare(_csv(tmp_path), "csv", label="y", sparse=["c"], delimiter=",", min_count=2, progress=False)
    assert again.cache_hit  # the same options, so the same cache key
    semi = _prepare("--csv", str(_csv(tmp_path, ";")), "--label", "y", "--sparse", "c", "--delimiter", ";")
    assert semi.exit_code == 0, semi.output
    assert "(40 rows, positive rate 0.5000)" in semi.stdout


def test_prepare_refuses_the_same_options_from_python(tmp_path: Path) -> None:
    csv = _csv(tmp_path)
    with pytest.raises(DataError) as hashed:
        prepare(csv, "csv", label="y", sparse=["c"], encoding="hash", hash_sizes=97, min_count=2, out=tmp_path / "h")
    assert (
        str(hashed.value) == "min_count (--min-count) applies only to vocab encoding (hash encoding hashes every value)"
    )
    with pytest.raises(DataError) as tabbed:
        prepare(csv, "criteo", delimiter="\t", out=tmp_path / "t")
    assert str(tabbed.value) == "delimiter (--delimiter) applies only to csv (Criteo files are tab-separated)"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]  # nothing written
    default = prepare(csv, "csv", label="y", sparse=["c"], out=tmp_path / "d", progress=False)
    explicit = prepare(
        csv, "csv", label="y", sparse=["c"], delimiter=",", min_count=2, out=tmp_path / "e", progress=False
    )
    assert default.spec == explicit.spec and default.meta.key == explicit.meta.key  # left out: the defaults
