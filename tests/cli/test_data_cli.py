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
    bad = data("info", "sample:nope")
    assert (bad.exit_code, bad.stderr, bad.stdout) == (
        1,
        "error: unknown sample 'nope'; known: criteo, criteo-head, criteo-scattered, avazu\n",
        "",
    )
