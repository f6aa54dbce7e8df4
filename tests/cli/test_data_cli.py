"""`nasrec data`: the bundled samples are named as `--data` names them, and errors name the flags."""

from __future__ import annotations

from typer.testing import CliRunner

from nasrec.cli import main

runner = CliRunner()


def data(*args: str):
    return runner.invoke(main.app, ["data", *args], env={"COLUMNS": "200"})


def test_info_takes_a_sample_name_as_data_does():
    result = data("info", "sample:criteo-scattered")
    assert result.exit_code == 0, result.output
    assert "sample:criteo-scattered" in result.stdout and "│ rows             │ 4,370" in result.stdout
    shown = data("info", "sample:criteo").stdout  # what RowEncoder serves raw rows with (nasrec.data.inputs)
    assert "│ dense transform  │ log1p" in shown
    assert "│ kept for serving │ encoding.json, vocab.npy (17,487 values)" in shown
    bad = data("info", "sample:nope")
    assert (bad.exit_code, bad.stderr, bad.stdout) == (
        1,
        "error: unknown sample 'nope'; known: criteo, criteo-head, criteo-scattered, avazu\n",
        "",
    )


def test_prepare_names_the_flags_of_bad_options(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("a,c,y\n" + "".join(f"{i},v{i % 4},{i % 2}\n" for i in range(40)))
    base = ["prepare", "--csv", str(f), "--label", "y", "--sparse", "c", "--out", str(tmp_path / "p")]
    for flags, message in (
        (["--on-bad-rows", "nope"], "--on-bad-rows: skip or error, got 'nope'"),
        (["--encoding", "nope"], "--encoding: vocab or hash, got 'nope'"),
        (["--min-count", "0"], "--min-count: at least 1, got 0"),
        (["--cap", "1"], "--cap: at least 2 rows per table, got 1"),
    ):
        result = data(*base, *flags)
        assert (result.exit_code, result.stderr, result.stdout) == (1, f"error: {message}\n", ""), result.output
    assert not (tmp_path / "p").exists()
