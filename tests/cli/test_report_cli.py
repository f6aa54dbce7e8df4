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


def test_the_report_format_follows_the_suffix_and_never_replaces_a_file_of_the_run(tmp_path):
    from tests.viz.test_report import _run_folder

    run = tmp_path / "run"
    _run_folder(run, topk=False, final=False)
    config = (run / "config.json").read_bytes()
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(run), "-o", str(run / "config.json")])
    assert result.exit_code == 1 and result.output == (
        f"error: -o {run / 'config.json'}: a file of the run folder {run}; write the report elsewhere or to a new "
        "name\n"
    )
    assert (run / "config.json").read_bytes() == config
    assert runner.invoke(app, ["report", str(run), "-o", str(tmp_path / "r.md")]).exit_code == 0
    assert (tmp_path / "r.md").read_text().startswith("# ")  # Markdown, as the suffix says
    assert runner.invoke(app, ["report", str(run), "-o", str(run / "report.html")]).exit_code == 0
    assert runner.invoke(app, ["report", str(run), "-o", str(run / "report.html")]).exit_code == 0  # again: fine
    for args, message in (
        (["--format", "pdf"], "--format: html or md, got 'pdf'"),
        (
            ["--format", "md", "-o", str(tmp_path / "r.html")],
            f"-o {tmp_path / 'r.html'}: the suffix says html, --format says md; rename one of them",
        ),
        (
            ["-o", str(tmp_path / "rep.pdf")],
            f"-o {tmp_path / 'rep.pdf'}: a report is written as HTML (.html, .htm) or Markdown (.md), not .pdf; "
            "name the file with one of those suffixes",
        ),
    ):
        result = runner.invoke(app, ["report", str(run), *args])
        assert result.exit_code == 1 and result.output == f"error: {message}\n", result.output
    assert not (tmp_path / "rep.pdf").exists()
    assert (
        runner.invoke(app, ["report", str(run), "--format", "md", "-o", str(tmp_path / "notes.markdown")]).exit_code
        == 0
    )
    assert (tmp_path / "notes.markdown").read_text().startswith("# ")  # the format said, any suffix


def test_an_explicit_format_takes_any_suffix_and_none_only_html_or_md():
    from pathlib import Path

    import pytest

    from nasrec.cli.report import report_format
    from nasrec.errors import UsageError

    assert report_format(Path("notes.markdown"), "md") == "md" and report_format(Path("r.xhtml"), "html") == "html"
    assert report_format(Path("r.MD"), None) == "md" and report_format(None, None) == "html"
    with pytest.raises(UsageError, match=r"^-o rep\.pdf: a report is written as HTML"):
        report_format(Path("rep.pdf"), None)
    with pytest.raises(UsageError):
        report_format(Path("r.md"), "html")  # a suffix naming the other format


def test_problems_reading_the_folder_are_said_on_stderr_too(tmp_path):
    from tests.viz.test_report import _run_folder

    run = tmp_path / "run"
    _run_folder(run, topk=False, final=False, summary=False, best=False)
    with open(run / "search" / "evaluations.jsonl", "a") as fh:
        fh.write('{"index": 40, "digest": "ab')  # a torn line
    for fmt in ("html", "md"):
        result = CliRunner().invoke(app, ["report", str(run), "--format", fmt, "-o", str(tmp_path / f"r.{fmt}")])
        assert result.exit_code == 0, result.output  # the report is written all the same
        assert result.stderr.startswith("note: search/evaluations.jsonl: skipped 1 line(s)")
        assert result.stderr.endswith(" (listed in the report)\n") and result.stderr.count("\n") == 1
    clean = tmp_path / "clean"
    _run_folder(clean, topk=False, final=False)
    assert CliRunner().invoke(app, ["report", str(clean)]).stderr == ""
