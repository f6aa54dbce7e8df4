"""`nasrec demo` ends with one labelled line of each stage's time, in run order."""

from types import SimpleNamespace

from typer.testing import CliRunner

from nasrec.cli import main


def test_demo_ends_with_the_stage_times_labelled(tmp_path, monkeypatch):
    seconds = {"supernet": 4.93, "search": 5.7, "top-k": 6.44, "random baseline": 12.0, "final": 30.21, "compare": 0.04}

    class Finished:
        def __init__(self, config, out, console) -> None:
            pass

        def run(self):
            return SimpleNamespace(stage_seconds=seconds)

    monkeypatch.setattr("nasrec.search.pipeline.Pipeline", Finished)  # demo imports them as it runs
    monkeypatch.setattr("nasrec.cli.search.draw_run", lambda out: None)
    monkeypatch.setattr("nasrec.cli.search.print_results", lambda summary, out: print("results"))
    result = CliRunner().invoke(main.app, ["demo", "-o", str(tmp_path / "d")], env={"COLUMNS": "80"})
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        "results\nstage times: supernet 4.9 s, search 5.7 s, top-k 6.4 s, random baseline 12.0 s, final 30.2 s, "
        "compare 0.0 s\n"
    )
