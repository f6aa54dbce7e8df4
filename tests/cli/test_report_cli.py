"""`nasrec report`: a folder that holds no run is refused in one line, and nothing is written."""

from typer.testing import CliRunner

from nasrec.cli.main import app


def test_report_on_a_folder_that_is_no_run_writes_nothing(tmp_path):
    (tmp_path / "notes.txt").write_text("not a run")
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output == (
        f"error: '{tmp_path}' is not a run folder of `nasrec search` (no run config.json); nothing to report\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_report_on_a_missing_folder(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.output == f"error: run folder '{tmp_path / 'nope'}' does not exist or is not a folder\n"
    assert not (tmp_path / "nope").exists()
