"""The Markdown run report: every section, the tables, the images it links, partial runs, the CLI."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from nasrec.cli.main import app
from nasrec.errors import UsageError
from nasrec.evaluators.stats import Interval
from nasrec.records import Comparison, RunPaths, Summary
from nasrec.viz import report_md
from nasrec.viz.report import PLOTS_NEED_MATPLOTLIB, SECTIONS, build_report
from nasrec.viz.report_md import files_folder, write_markdown_report
from tests.viz.test_report import N_TOPK, PNG_MAGIC, _nasrecnet_alone, _run_folder, _svg_of, _with_front

FILES = "report_files"  # beside the default RUN/report.md
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
LL = Interval(estimate=-0.0026, low=-0.0041, high=-0.0011, level=0.95, rows=2000)
AUC = Interval(estimate=0.0042, low=0.0019, high=0.0065, level=0.95, rows=2000)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The HTML tests' run folder, its summary given NASRecNet's paired comparisons and the seeds."""
    root = tmp_path_factory.mktemp("run")
    written = _run_folder(root)
    paths = RunPaths(root)
    summary = Summary.model_validate_json(paths.summary.read_text())
    summary.comparisons = {"DLRM": Comparison(log_loss=LL, auc=AUC)}
    summary.seeds = [0, 1]
    paths.summary.write_text(summary.model_dump_json(indent=2))
    return root, written


@pytest.fixture(scope="module")
def full_md(full_run: tuple[Path, dict[str, Any]]) -> str:
    path = write_markdown_report(full_run[0])
    assert path == full_run[0] / "report.md"
    return path.read_text()


def _table(md: str, header_start: str) -> list[list[str]]:
    """The rows (cells stripped) of the table whose header starts with `header_start`, header first."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header_start}"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split(" | ")])
    return [rows[0], *rows[2:]]  # without the alignment rule


def test_every_section_in_order(full_md: str) -> None:
    assert re.findall(r"^## (.*)$", full_md, re.M) == list(SECTIONS.values())
    assert full_md.startswith("# NASRec run report: ")
    assert "Not available yet" not in full_md


def test_images_are_files_beside_the_report(full_run: tuple[Path, dict[str, Any]], full_md: str) -> None:
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", full_md)
    expected = [f"{FILES}/search_curve.png", f"{FILES}/proxy_vs_full.png"]
    if shutil.which("dot"):
        expected.insert(0, f"{FILES}/best_genotype.svg")
    assert links == expected
    for link in links:
        data = (full_run[0] / link).read_bytes()
        assert data.startswith(PNG_MAGIC) if link.endswith(".png") else b"<svg" in data


def test_topk_table(full_run: tuple[Path, dict[str, Any]], full_md: str) -> None:
    rows = _table(full_md, "rank")
    head = ["rank", "digest", "proxy log loss", "proxy AUC", "full log loss", "full AUC", "FLOPs", "dense params"]
    assert rows[0] == head
    tops = full_run[1]["topk"]
    assert [r[1].strip("*`") for r in rows[1:]] == [t.digest for t in tops]
    assert len(rows) == N_TOPK + 1
    best = [r for r in rows[1:] if r[1].strip("*`") == full_run[1]["chosen"].digest]
    assert len(best) == 1 and all(c.startswith("**") for c in best[0])
    assert rows[1][2].strip("*") == f"{tops[0].proxy.log_loss:.5f}"


def test_final_table_with_differences_and_intervals(full_md: str) -> None:
    rows = _table(full_md, "name")
    assert rows[0][6:] == ["NASRecNet − model: log loss [95% CI]", "AUC [95% CI]", "FLOPs", "dense params"]
    by_name = {r[0].strip("*"): r for r in rows[1:]}
    assert list(by_name) == ["NASRecNet", "DLRM", "random"]  # sorted by test log loss
    assert by_name["DLRM"][6:8] == ["-0.0026 [-0.0041, -0.0011]", "+0.0042 [+0.0019, +0.0065]"]
    assert by_name["NASRecNet"][0] == "**NASRecNet**" and by_name["random"][6] == ""
    assert "trained with the final seeds 0, 1 (each model" in full_md
    assert "a negative log-loss or a positive AUC difference means NASRecNet is better" in full_md
    assert "intervals are paired bootstrap 95 % intervals over the test rows, pooled over seeds." in full_md


def test_the_final_note_names_the_methods_the_intervals_were_computed_by(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above 40,000 test rows the paired intervals are analytic (`Interval.method`): both reports say which,
    not "bootstrap"."""
    _run_folder(tmp_path)
    paths = RunPaths(tmp_path)
    summary = Summary.model_validate_json(paths.summary.read_text())
    summary.comparisons = {
        "DLRM": Comparison(
            log_loss=LL.model_copy(update={"method": "normal", "rows": 50_000}),
            auc=AUC.model_copy(update={"method": "delong", "rows": 50_000}),
        )
    }
    paths.summary.write_text(summary.model_dump_json(indent=2))
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # no plots: only the text is looked at
    said = (
        "intervals are paired 95 % intervals over the test rows, pooled over seeds: normal (log loss) and DeLong (AUC)."
    )
    for text in (write_markdown_report(tmp_path).read_text(), build_report(tmp_path)):
        assert said in text
        assert "bootstrap" not in text


def test_summary_and_config(full_run: tuple[Path, dict[str, Any]], full_md: str) -> None:
    chosen = full_run[1]["chosen"]
    assert "- **evaluations**: 40 (38 scored, 2 failed)" in full_md
    assert f"- **best architecture**: `{chosen.digest}`: NASRecNet, the run's pick (best_genotype.json)" in full_md
    assert '"note": "<b>not markup</b> & co"' in full_md  # the config, verbatim in a code block


def test_same_folder_same_text(full_run: tuple[Path, dict[str, Any]], full_md: str, tmp_path: Path) -> None:
    again = write_markdown_report(full_run[0], tmp_path / "report.md").read_text()
    assert again == full_md
    assert (tmp_path / FILES / "search_curve.png").read_bytes().startswith(PNG_MAGIC)


def test_partial_run_says_what_is_missing(tmp_path: Path) -> None:
    _run_folder(tmp_path, topk=False, final=False, summary=False, best=False)
    md = write_markdown_report(tmp_path).read_text()
    assert "- **best architecture**: " in md and "best proxy score so far" in md
    for section in (
        "Proxy versus full training",
        "Top-k candidates",
        "Final results (test)",
        "Stage timings",
        "Budgets and Pareto front",
    ):
        assert re.search(rf"^> - {re.escape(section)}: ", md, re.M), section
    assert "_Not available yet: no top-k results (topk/evaluations.jsonl)._" in md


def test_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _run_folder(tmp_path, topk=False, final=False, summary=False)
    monkeypatch.setattr(report_md, "_matplotlib", lambda: None)
    md = write_markdown_report(tmp_path).read_text()
    assert f"_{PLOTS_NEED_MATPLOTLIB}_" in md
    assert list((tmp_path / FILES).glob("*.png")) == []


def test_the_runs_own_diagram_is_copied_beside_the_report(tmp_path: Path) -> None:
    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere" / "run.md"
    chosen = _run_folder(run)["chosen"]
    RunPaths(run).best_diagram.write_text(_svg_of(chosen.digest))
    md = write_markdown_report(run, elsewhere).read_text()
    assert "![best architecture](run_files/best_genotype.svg)" in md and "../" not in md
    assert (elsewhere.parent / "run_files" / "best_genotype.svg").read_text() == _svg_of(chosen.digest)


@needs_dot
def test_a_diagram_of_another_genotype_is_drawn_afresh(tmp_path: Path) -> None:
    chosen = _run_folder(tmp_path)["chosen"]
    RunPaths(tmp_path).best_diagram.write_text(_svg_of("0123456789abcdef"))  # left from another run
    md = write_markdown_report(tmp_path).read_text()
    assert f"![best architecture]({FILES}/best_genotype.svg)" in md
    assert f"digest {chosen.digest}</text>" in (tmp_path / FILES / "best_genotype.svg").read_text()
    assert (
        f"> - best_genotype.svg: not a diagram of the best genotype (digest 0123456789abcdef, the best is "
        f"{chosen.digest}); not used"
    ) in md


def test_cli_format_md(tmp_path: Path) -> None:
    _run_folder(tmp_path, topk=False, final=False, summary=False)
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--format", "md"])
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {tmp_path / 'report.md'}\n"
    assert (tmp_path / "report.md").exists() and not (tmp_path / "report.html").exists()


def test_cli_md_on_a_folder_that_is_no_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--format", "md"])
    assert result.exit_code == 1
    assert result.output == (
        f"error: '{tmp_path}' is not a run folder of `nasrec search` (no run config.json); nothing to report\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_report_path_that_is_a_folder_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _run_folder(run)
    (tmp_path / "adir").mkdir()
    with pytest.raises(UsageError, match=r"^cannot write '.*adir': Is a directory$"):
        write_markdown_report(run, tmp_path / "adir")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "run"] and not any((tmp_path / "adir").iterdir())


def test_reports_written_into_one_folder_keep_their_own_images(tmp_path: Path) -> None:
    # every report's images went to one report_files/: the second report's plots replaced the first's
    first, second, out = tmp_path / "s1", tmp_path / "s4", tmp_path / "reports"
    _run_folder(first)
    _run_folder(second, topk=False, final=False, summary=False)
    evaluations = RunPaths(second).evaluations  # a shorter search: another search curve
    evaluations.write_text("".join(evaluations.read_text().splitlines(keepends=True)[:10]))
    md1 = write_markdown_report(first, out / "s1.md").read_text()
    written = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*.*")}
    md4 = write_markdown_report(second, out / "s4.md").read_text()
    assert files_folder(out / "s1.md") == "s1_files" and files_folder("report.md") == FILES
    assert "](s1_files/search_curve.png)" in md1 and "](s1_files/proxy_vs_full.png)" in md1
    assert "](s4_files/search_curve.png)" in md4 and "proxy_vs_full" not in md4
    for rel, data in written.items():  # the first report's files are as it wrote them
        assert (out / rel).read_bytes() == data, rel
    assert (out / "s4_files" / "search_curve.png").read_bytes() != written["s1_files/search_curve.png"]


def test_a_report_name_with_spaces_links_its_images_quoted(tmp_path: Path) -> None:
    _run_folder(tmp_path, topk=False, final=False, summary=False)
    md = write_markdown_report(tmp_path, tmp_path / "my run (v2).md").read_text()
    assert "](my%20run%20%28v2%29_files/search_curve.png)" in md
    assert (tmp_path / "my run (v2)_files" / "search_curve.png").read_bytes().startswith(PNG_MAGIC)


def test_the_format_help_names_the_images_folder_the_report_writes() -> None:
    params = typer.main.get_command(app).commands["report"].params  # type: ignore[attr-defined]
    assert next(p.help for p in params if p.name == "format") == (
        "html: one self-contained page; md: Markdown with its images in NAME_files/ beside the report NAME.md "
        f"({files_folder('report.md')}/ for RUN/report.md). Default: by -o's suffix, else html."
    )
    assert files_folder("NAME.md") == "NAME_files"


def test_dense_params_and_a_top_k_overlap_that_needs_more_candidates(full_md: str) -> None:
    """As the HTML report: `Score.params` counts no embedding parameters; with k >= n the top-k overlap is always 1."""
    assert re.search(r"^- \*\*dense params\*\*: \d+\.\d\d\u00a0M$", full_md, re.M)
    assert "- **params**" not in full_md
    assert "- **top-5 overlap**: needs more than 5 trained top-k candidates (have 5)\n" in full_md


def test_a_final_table_of_nasrecnet_alone_says_there_is_nothing_to_compare(tmp_path: Path) -> None:
    _nasrecnet_alone(tmp_path)
    md = write_markdown_report(tmp_path).read_text()
    assert [r[0] for r in _table(md, "name")[1:]] == ["**NASRecNet**"]
    assert (
        "\n\nSorted by test log loss; NASRecNet in bold. Every model trained with the final seeds 10000 (each model's "
        "training seeds derive from them and its digest: summary.json); NASRecNet is the only model on test: there is "
        "nothing to compare it with.\n\n## Stage timings"
    ) in md
    assert "intervals" not in md.split("## Final results (test)")[1]


def test_the_front_counts_flops_per_example_as_the_other_tables_do(tmp_path: Path) -> None:
    _run_folder(tmp_path)
    summary = _with_front(tmp_path)
    md = write_markdown_report(tmp_path).read_text()
    budgets = "Budgets: dense params at most 1.50\u00a0M; 6 proposals over the budgets (never scored, never trained)."
    assert f"\n\n{budgets}\n\n" in md
    assert "![proxy log loss against FLOPs per example](report_files/front.png)" in md
    assert _table(md, "digest") == [
        ["digest", "proxy log loss", "FLOPs per example", "from scratch (valid log loss)"],
        *(
            [f"`{m.digest}`", f"{m.values['logloss']:.5f}", flops, "0.45000"]
            for m, flops in zip(summary.front, ("994.87\u00a0k", "1.25\u00a0M"), strict=True)
        ),
    ]
