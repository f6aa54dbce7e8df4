"""The HTML run report: a full run folder, a partial one, no matplotlib, no graphviz, odd inputs."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from nasrec.compiler.standalone import DIGEST_ENTRY
from nasrec.errors import UsageError
from nasrec.evaluators.base import Score
from nasrec.evaluators.ranking import agreement
from nasrec.genotype import load, sample, save
from nasrec.records import Evaluation, FinalResult, FrontMember, RunPaths, Summary, TopKResult
from nasrec.state import append_jsonl
from nasrec.viz import report as report_module
from nasrec.viz.render import render
from nasrec.viz.report import CSS, PLOTS_NEED_MATPLOTLIB, SECTIONS, build_report, write_report
from nasrec.viz.report_data import RunData
from nasrec.viz.report_html import _si
from nasrec.viz.report_plots import draw_front, draw_search_curve

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N_EVALS, N_TOPK = 40, 5
CONFIG = {
    "space": "nasrec-full",
    "seed": 7,
    "search": {"strategy": "regularized-evolution", "budget": N_EVALS},
    "note": "<b>not markup</b> & co",
}


def _score(rng: np.random.Generator, log_loss: float, evaluator: str, flops: int = 1_500_000) -> Score:
    config = {"recipe": "fast", "train_rows": 8192} if evaluator == "finetune" else {}
    return Score(
        log_loss=log_loss,
        auc=0.80 - (log_loss - 0.44) * 2 + rng.normal(0, 0.002),
        examples=4096,
        flops=flops,
        params=flops // 2,
        seconds=float(rng.uniform(0.5, 2.0)),
        evaluator=evaluator,
        config=config,
    )


def _run_folder(
    root: Path, *, topk: bool = True, final: bool = True, summary: bool = True, best: bool = True
) -> dict[str, Any]:
    """A small, plausible run folder; returns what was written."""
    paths = RunPaths(root)
    rng = np.random.default_rng(0)
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(json.dumps({"config": CONFIG, "versions": {"nasrec": "0.1.0"}}, indent=2))
    evals: list[Evaluation] = []
    for i in range(N_EVALS):
        g = sample("nasrec-full", rng=i)
        failed = i in (3, 17)
        score = (
            None
            if failed
            else _score(
                rng,
                0.47 - 0.02 * i / N_EVALS + rng.normal(0, 0.006),
                "finetune",
                flops=int(rng.integers(200_000, 5_000_000)),
            )
        )
        e = Evaluation(
            index=i,
            digest=g.digest(),
            genotype=g.to_dict(),
            score=score,
            error="CUDA out of memory" if failed else None,
            seed=i,
            seconds=1.0,
        )
        append_jsonl(paths.evaluations, e)
        evals.append(e)
    ranked = sorted((e for e in evals if e.score is not None), key=lambda e: e.score.log_loss)  # type: ignore[union-attr]  # filtered to scored ones
    tops: list[TopKResult] = []
    if topk:
        for rank, e in enumerate(ranked[:N_TOPK], start=1):
            assert e.score is not None
            full = _score(rng, e.score.log_loss - 0.01 + rng.normal(0, 0.001), "standalone", flops=e.score.flops or 0)
            r = TopKResult(rank=rank, digest=e.digest, genotype=e.genotype, proxy=e.score, full=full)
            append_jsonl(paths.topk, r)
            tops.append(r)
    chosen = min(tops, key=lambda r: r.full.log_loss) if tops else None
    finals: list[FinalResult] = []
    if final and chosen is not None:
        zoo = sample("nasrec-full", rng=1000)
        rand = sample("nasrec-full", rng=2000)
        for name, kind, digest, geno, ll, flops in [
            ("NASRecNet", "nasrec", chosen.digest, chosen.genotype, 0.4405, chosen.full.flops or 0),
            ("DLRM", "zoo", zoo.digest(), zoo.to_dict(), 0.4431, 2_600_000),
            ("random", "random", rand.digest(), rand.to_dict(), 0.4460, 1_100_000),
        ]:
            f = FinalResult(
                name=name, kind=kind, digest=digest, genotype=geno, test=_score(rng, ll, "standalone", flops=flops)
            )
            append_jsonl(paths.final, f)
            finals.append(f)
    if best and chosen is not None:
        save(chosen.genotype.with_meta(name="NASRecNet"), paths.best_genotype)
    if summary and chosen is not None:
        s = Summary(
            best_digest=chosen.digest,
            best_genotype="best_genotype.json",
            results=finals,
            stage_seconds={"supernet": 3600.0, "search": 1234.5, "topk": 600.0, "final": 90.0},
            evaluations=N_EVALS,
        )
        paths.summary.write_text(s.model_dump_json(indent=2))
    return {"evaluations": evals, "topk": tops, "final": finals, "chosen": chosen}


class Page(HTMLParser):
    """Sections, tables (id -> rows of cell texts and row classes), images, svg and pre texts of a page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, str] = {}
        self.tables: dict[str, list[tuple[str, list[str]]]] = {}
        self.images: list[str] = []
        self.svgs = 0
        self.ids: dict[str, str] = {}
        self._section: str | None = None
        self._table: str | None = None
        self._in_body = False
        self._cell: list[str] | None = None
        self._row: tuple[str, list[str]] | None = None
        self._id_stack: list[tuple[str, str, list[str]]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self._section = a["id"]
            self.sections[self._section] = ""
        elif tag == "table":
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._row = (a.get("class") or "", [])
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "img":
            self.images.append(a["src"] or "")
        elif tag == "svg":
            self.svgs += 1
        if a.get("id") and tag not in ("section", "table"):
            self._id_stack.append((tag, a["id"] or "", []))

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._section = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "td" and self._cell is not None and self._row is not None:
            self._row[1].append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            assert self._table is not None
            self.tables[self._table].append(self._row)
            self._row = None
        if self._id_stack and self._id_stack[-1][0] == tag:
            _, ident, text = self._id_stack.pop()
            self.ids[ident] = "".join(text)

    def handle_data(self, data: str) -> None:
        if self._section:
            self.sections[self._section] += data
        if self._cell is not None:
            self._cell.append(data)
        for _, _, text in self._id_stack:
            text.append(data)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("run")
    written = _run_folder(root)
    return root, written


@pytest.fixture(scope="module")
def full_page(full_run: tuple[Path, dict[str, Any]]) -> tuple[str, Page]:
    root, _ = full_run
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    out = write_report(root)
    assert out == RunPaths(root).report
    after = sorted(p.relative_to(root) for p in root.rglob("*"))
    assert sorted(set(after) - set(before)) == [Path("report.html")]  # nothing else written
    text = out.read_text()
    return text, Page(text)


def test_full_report_has_every_section(full_page: tuple[str, Page]) -> None:
    text, page = full_page
    assert list(page.sections) == list(SECTIONS)
    assert 'id="missing"' not in text and 'id="problems"' not in text
    assert "Not available yet" not in text
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org", "")  # self-contained


@needs_dot
def test_diagram_is_inline_svg_with_block_clusters(
    full_page: tuple[str, Page], full_run: tuple[Path, dict[str, Any]]
) -> None:
    text, page = full_page
    assert page.svgs == 1
    svg = re.search(r"<svg.*?</svg>", text, re.S)
    assert svg is not None
    assert "<?xml" not in text and "<!DOCTYPE svg" not in text
    chosen = full_run[1]["chosen"]
    n_blocks = chosen.genotype.num_blocks
    for k in range(1, n_blocks + 1):
        assert f"<title>cluster_b{k}</title>" in svg[0]
    assert chosen.digest in svg[0]


def test_plots_are_embedded_png(full_page: tuple[str, Page]) -> None:
    _, page = full_page
    pngs = [src for src in page.images if src.startswith("data:image/png;base64,")]
    assert len(pngs) >= 2 and len(pngs) == len(page.images)
    for src in pngs:
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert PLOTS_NEED_MATPLOTLIB not in page.sections["search-curve"]


def test_topk_and_final_tables(full_page: tuple[str, Page], full_run: tuple[Path, dict[str, Any]]) -> None:
    _, page = full_page
    written = full_run[1]
    topk = page.tables["topk-table"]
    assert [cells[0] for _, cells in topk] == ["1", "2", "3", "4", "5"]
    assert [cells[1] for _, cells in topk] == [r.digest for r in written["topk"]]
    assert [cells[2] for _, cells in topk] == [f"{r.proxy.log_loss:.5f}" for r in written["topk"]]
    assert [cls for cls, cells in topk if cls == "best"] == ["best"]
    assert dict((cells[1], cls) for cls, cells in topk)[written["chosen"].digest] == "best"

    final = page.tables["final-table"]
    assert len(final) == 3
    assert {cells[0] for _, cells in final} == {"NASRecNet", "DLRM", "random"}
    assert [cells[0] for cls, cells in final if cls == "nasrec"] == ["NASRecNet"]
    assert [cells[3] for _, cells in final] == ["0.44050", "0.44310", "0.44600"]  # sorted by test log loss
    assert all(cells[8].endswith("\u00a0M") for _, cells in final)  # FLOPs, human units, the unit never broken off
    nasrec = next(cells for cls, cells in final if cls == "nasrec")
    test = written["final"][0].test
    assert nasrec[8:] == [f"{test.flops / 1e6:.2f}\u00a0M", f"{test.params / 1e6:.2f}\u00a0M"]
    assert page.ids["final-note"].endswith("; no paired differences (none in summary.json).")  # none in the fixture


def test_kendall_tau_matches_agreement(full_page: tuple[str, Page], full_run: tuple[Path, dict[str, Any]]) -> None:
    _, page = full_page
    tops = full_run[1]["topk"]
    agree = agreement([r.proxy.log_loss for r in tops], [r.full.log_loss for r in tops], k=5)
    assert 0 < agree.kendall_tau < 1  # the fixture's proxy ranks well, not perfectly
    assert page.ids["kendall-tau"] == f"{agree.kendall_tau:.3f}"
    assert page.ids["spearman-rho"] == f"{agree.spearman_rho:.3f}"


def test_config_summary_and_best_architecture(
    full_page: tuple[str, Page], full_run: tuple[Path, dict[str, Any]]
) -> None:
    text, page = full_page
    assert json.loads(page.ids["config-json"])["config"] == CONFIG  # pretty-printed, and escaped in the HTML
    assert "&lt;b&gt;not markup&lt;/b&gt; &amp; co" in text and "<b>not markup</b>" not in text
    timings = page.tables["timings-table"]
    assert [cells[0] for _, cells in timings] == ["supernet", "search", "topk", "final", "total"]
    assert timings[0][1][1] == "1:00:00" and timings[-1][1][2] == f"{3600 + 1234.5 + 600 + 90:.1f}"
    arch = page.sections["architecture"]
    chosen = full_run[1]["chosen"]
    assert chosen.digest in arch and "NASRecNet, the run's pick" in arch
    assert "FLOPs" in arch and "params" in arch and "test" in arch
    assert "proxy (finetune, fast recipe)" in arch and "supernet" not in arch  # the proxy that scored it
    assert "40 (38 scored, 2 failed)" in page.sections["overview"]
    assert f"{chosen.digest}: NASRecNet, the run's pick (best_genotype.json)" in page.sections["overview"]


def test_the_kept_weights_of_the_best_architecture_are_named(tmp_path: Path) -> None:
    chosen = _run_folder(tmp_path)["chosen"]
    weights = RunPaths(tmp_path).best_weights
    weights.parent.mkdir(exist_ok=True)
    fact = "trained weightsfinal/nasrecnet.pt (nasrec export --weights)"
    for digest, named in (("0123456789abcdef", False), (chosen.genotype.active_digest(), True)):
        torch.save({"model": {}, DIGEST_ENTRY: digest}, weights)  # kept for another architecture, then the best's
        assert (fact in Page(build_report(tmp_path)).sections["architecture"]) is named, digest


def test_partial_run_says_what_is_missing(tmp_path: Path) -> None:
    _run_folder(tmp_path, topk=False, final=False, summary=False, best=False)
    page = Page(write_report(tmp_path).read_text())
    assert list(page.sections) == list(SECTIONS)
    missing = page.ids["missing"]
    for title in (
        "Proxy versus full training",
        "Top-k candidates",
        "Final results (test)",
        "Stage timings",
        "Budgets and Pareto front",
    ):
        assert title in missing
    for sid in ("proxy-vs-full", "topk", "final", "timings", "front"):
        assert "Not available yet" in page.sections[sid]
    for sid in ("search-curve", "config", "architecture"):
        assert "Not available yet" not in page.sections[sid]
    assert "best proxy score so far" in page.sections["architecture"]
    assert len(page.images) == 1  # the search curve
    assert "topk-table" not in page.tables and "final-table" not in page.tables


def test_empty_folder_and_torn_last_line(tmp_path: Path) -> None:
    page = Page(build_report(tmp_path))
    assert set(SECTIONS) - {"overview"} <= {s for s, t in page.sections.items() if "Not available yet" in t}
    # a record still being written: skipped and listed, and the file left as it was
    _run_folder(tmp_path, topk=False, final=False, summary=False, best=False)
    evaluations = RunPaths(tmp_path).evaluations
    with open(evaluations, "a") as fh:
        fh.write('{"index": 40, "digest": "ab')
    before = evaluations.read_bytes()
    page = Page(build_report(tmp_path))
    assert "skipped 1 line(s)" in page.ids["problems"] and "line 41" in page.ids["problems"]
    assert evaluations.read_bytes() == before


def test_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import` raise ImportError
    _run_folder(tmp_path)
    page = Page(write_report(tmp_path, tmp_path / "elsewhere" / "r.html").read_text())
    assert page.images == []
    for sid in ("search-curve", "proxy-vs-full"):
        assert PLOTS_NEED_MATPLOTLIB in page.sections[sid]
    assert page.tables["topk-table"] and page.ids["kendall-tau"]  # numbers and tables need no matplotlib
    assert not RunPaths(tmp_path).report.exists()


def test_the_search_curve_is_labelled_with_the_runs_strategy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nasrec.viz.report_data import strategy_name

    assert strategy_name({"config": {"strategy": {"name": "random", "options": {}}}}) == "random"
    assert strategy_name({"config": {}}) == strategy_name(None) == "search"
    pytest.importorskip("matplotlib")
    _run_folder(tmp_path)
    paths = RunPaths(tmp_path)
    config = json.loads(paths.config.read_text())
    config["config"]["strategy"] = {"name": "random", "options": {}}
    paths.config.write_text(json.dumps(config))
    labels: list[str] = []
    real = report_module.draw_search_curve

    def draw(fig: Any, run: Any) -> None:  # the real drawing; then the legend it made
        real(fig, run)
        labels.extend(fig.axes[0].get_legend_handles_labels()[1])

    monkeypatch.setattr(report_module, "draw_search_curve", draw)
    write_report(tmp_path)
    assert labels == ["proxy log loss of each candidate", "random: best so far"]


def test_matplotlib_is_imported_lazily() -> None:
    code = "import sys, nasrec.viz.report; assert 'matplotlib' not in sys.modules, 'imported eagerly'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_dot_shows_dot_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _run_folder(tmp_path)
    RunPaths(tmp_path).best_diagram.unlink(missing_ok=True)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    text = build_report(tmp_path)
    assert "<svg" not in text and "`dot` executable was not found on PATH" in text and "digraph nasrec" in text


def test_a_best_genotype_too_deep_to_lay_out_is_shown_as_dot_source(tmp_path: Path) -> None:
    _run_folder(tmp_path)
    paths = RunPaths(tmp_path)
    paths.best_diagram.unlink(missing_ok=True)
    doc = json.loads(paths.best_genotype.read_text())
    del doc["space"]
    paths.best_genotype.write_text(json.dumps({**doc, "blocks": [doc["blocks"][0]] * 17}))
    section = Page(build_report(tmp_path)).sections["architecture"]
    assert "17 blocks; render draws at most 16" in section and "digraph nasrec" in section and "<svg" not in section


def _svg_of(digest: str) -> str:
    """An SVG like `render`'s: its title names the space and the digest of the genotype it drew."""
    title = f'<text x="1">space nasrec&#45;full · digest {digest}</text>'
    return f'<?xml version="1.0"?>\n<!DOCTYPE svg>\n<!-- x -->\n<svg id="from-file"><g>{title}</g></svg>\n'


def test_existing_diagram_file_is_embedded(tmp_path: Path) -> None:
    chosen = _run_folder(tmp_path)["chosen"]
    RunPaths(tmp_path).best_diagram.write_text(_svg_of(chosen.digest))
    text = build_report(tmp_path)
    assert f'<svg id="from-file"><g><text x="1">space nasrec&#45;full · digest {chosen.digest}</text>' in text
    assert "<?xml" not in text and Page(text).svgs == 1


@needs_dot
def test_the_pipelines_drawing_of_the_best_genotype_is_embedded(tmp_path: Path) -> None:
    _run_folder(tmp_path)
    paths = RunPaths(tmp_path)
    render(load(paths.best_genotype).with_meta(name="drawn by the pipeline"), paths.best_diagram)
    text = build_report(tmp_path)
    assert "drawn by the pipeline" in text and "problems" not in Page(text).ids


@needs_dot
def test_a_diagram_of_another_genotype_is_not_embedded(tmp_path: Path) -> None:
    chosen = _run_folder(tmp_path)["chosen"]
    RunPaths(tmp_path).best_diagram.write_text(_svg_of("0123456789abcdef"))  # left from another run
    text = build_report(tmp_path)
    page = Page(text)
    assert 'id="from-file"' not in text and page.svgs == 1
    assert f"digest {chosen.digest}" in page.sections["architecture"]
    assert page.ids["problems"] == (
        "Problems reading the run folder:best_genotype.svg: not a diagram of the best genotype (digest "
        f"0123456789abcdef, the best is {chosen.digest}); not used"
    )


def test_fewer_than_three_topk_and_bad_inputs(tmp_path: Path) -> None:
    written = _run_folder(tmp_path, final=False, summary=False)
    topk = RunPaths(tmp_path).topk
    topk.write_text("".join(r.model_dump_json() + "\n" for r in written["topk"][:2]))
    page = Page(build_report(tmp_path))
    assert "at least 3 trained top-k candidates (have 2)" in page.sections["proxy-vs-full"]
    assert "kendall-tau" not in page.ids
    diverged = written["topk"][2].model_copy(update={"full": None})
    topk.write_text("".join(r.model_dump_json() + "\n" for r in [*written["topk"][:2], diverged]))
    assert "(have 2; 1 of 3 diverged)" in Page(build_report(tmp_path)).sections["proxy-vs-full"]
    assert len(page.tables["topk-table"]) == 2
    with pytest.raises(UsageError, match=r"run folder '.*/nope' does not exist or is not a folder"):
        write_report(tmp_path / "nope")
    assert report_module._running_min([3.0, 2.0, 2.5, 1.0]) == [3.0, 2.0, 2.0, 1.0]
    nan_first = report_module._running_min([float("nan"), 2.0, float("inf"), 1.0])
    assert np.isnan(nan_first[0]) and nan_first[1:] == [2.0, 2.0, 1.0]


def test_the_proxy_plot_counts_the_points_it_draws_not_the_diverged_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run_folder(tmp_path)
    paths = RunPaths(tmp_path)
    topk = [TopKResult.model_validate_json(line) for line in paths.topk.read_text().splitlines()]
    kept = topk[:3]
    kept[0] = kept[0].model_copy(update={"full": None, "error": "diverged"})
    paths.topk.write_text("".join(r.model_dump_json() + "\n" for r in kept))
    titles: list[str] = []
    monkeypatch.setattr(report_module, "draw_proxy_vs_full", lambda fig, run, title: titles.append(title))
    write_report(tmp_path)
    assert titles == ["Proxy versus full training (n = 2)"]


def test_a_run_scored_by_the_params_proxy_reports_the_searchs_best_by_its_objective(tmp_path: Path) -> None:
    _run_folder(tmp_path, topk=False, final=False, summary=False, best=False)
    paths = RunPaths(tmp_path)
    evaluations = [Evaluation.model_validate_json(line) for line in paths.evaluations.read_text().splitlines()]
    as_params = []
    for i, e in enumerate(evaluations):  # how the `params` evaluator scores: no log loss, minus the size
        if e.score is None:  # a failed evaluation stays failed
            as_params.append(e)
            continue
        score = e.score.model_copy(update={"log_loss": None, "auc": None, "objective": -float(1000 + 37 * i % 11)})
        as_params.append(e.model_copy(update={"score": score}))
    paths.evaluations.write_text("".join(e.model_dump_json() + "\n" for e in as_params))
    best = min((e for e in as_params if e.score is not None), key=lambda e: e.score.value)  # type: ignore[union-attr]
    page = Page(write_report(tmp_path).read_text())
    overview = page.sections["overview"]
    assert "best proxy score" in overview and best.digest in overview
    assert f"Best proxy score {best.score.value:.5f}" in page.sections["search-curve"]  # type: ignore[union-attr]


def _with_front(root: Path) -> Summary:
    """`_run_folder(root)`'s summary as a search of proxy log loss and FLOPs within a dense-params budget, its front
    two candidates."""
    paths = RunPaths(root)
    scored = [e for e in map(Evaluation.model_validate_json, paths.evaluations.read_text().splitlines()) if e.score]
    front = [
        FrontMember(digest=e.digest, values={"logloss": e.score.log_loss or 0, "flops": flops}, full_log_loss=0.45)
        for e, flops in zip(scored[:2], (994_870.0, 1_250_000.0), strict=True)
        if e.score is not None
    ]
    summary = Summary.model_validate_json(paths.summary.read_text()).model_copy(
        update={"objectives": ["logloss", "flops"], "limits": {"max_params": 1_500_000}, "rejected": 6, "front": front}
    )
    paths.summary.write_text(summary.model_dump_json())
    return summary


def test_numbers_and_intervals_never_wrap_and_wide_tables_scroll(full_page: tuple[str, Page]) -> None:
    text, _ = full_page
    assert _si(980_370) == "980.37\u00a0k" and _si(2_600_000) == "2.60\u00a0M" and _si(512) == "512"
    assert "th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; white-space: nowrap; }" in CSS
    assert "nav a { margin-right: 1em; white-space: nowrap; }" in CSS and "div.wide { overflow-x: auto; }" in CSS
    for table in ("topk-table", "final-table", "timings-table"):
        assert f'<div class="wide"><table id="{table}">' in text
    assert text.count("<table") == text.count('<div class="wide"><table') == 3


def test_the_report_says_dense_params(full_page: tuple[str, Page]) -> None:
    """`Score.params` counts no embedding parameters: every heading says so."""
    text, _ = full_page
    assert "<dt>dense params</dt>" in text and text.count("<th>dense params</th>") == 2  # top-k and final tables
    assert "<dt>params</dt>" not in text and "<th>params</th>" not in text


def test_the_top_k_overlap_needs_more_candidates_than_k(full_page: tuple[str, Page], tmp_path: Path) -> None:
    """With k >= n both top-k sets hold every candidate: the overlap is 1 whatever the ranking, so it is not shown."""
    text, page = full_page
    assert "<dt>top-5 overlap</dt>" in text
    assert page.ids["top-k-overlap"] == "needs more than 5 trained top-k candidates (have 5)"
    written = _run_folder(tmp_path)
    rng = np.random.default_rng(1)
    ranked = sorted((e for e in written["evaluations"] if e.score), key=lambda e: e.score.log_loss)
    sixth = ranked[N_TOPK]
    full = _score(rng, sixth.score.log_loss - 0.0102, "standalone")
    tops = [
        *written["topk"],
        TopKResult(rank=6, digest=sixth.digest, genotype=sixth.genotype, proxy=sixth.score, full=full),
    ]
    append_jsonl(RunPaths(tmp_path).topk, tops[-1])
    agree = agreement([r.proxy.log_loss for r in tops], [r.full.log_loss for r in tops], k=5)
    assert Page(build_report(tmp_path)).ids["top-k-overlap"] == f"{agree.top_k_overlap:.3f}"


def _nasrecnet_alone(tmp_path: Path) -> None:
    """A finished run folder whose final stage trained NASRecNet alone (`--zoo '' --no-random-baseline`)."""
    _run_folder(tmp_path)
    paths = RunPaths(tmp_path)
    summary = Summary.model_validate_json(paths.summary.read_text())
    alone = [r for r in summary.results if r.kind == "nasrec"]
    paths.summary.write_text(summary.model_copy(update={"results": alone, "seeds": [10000]}).model_dump_json())
    paths.final.write_text(alone[0].model_dump_json() + "\n")


def test_a_final_table_of_nasrecnet_alone_says_there_is_nothing_to_compare(tmp_path: Path) -> None:
    _nasrecnet_alone(tmp_path)
    page = Page(build_report(tmp_path))
    assert [cells[0] for _, cells in page.tables["final-table"]] == ["NASRecNet"]
    assert page.ids["final-note"] == (
        "Sorted by test log loss; NASRecNet highlighted. Every model trained with the final seeds 10000 (each "
        "model's training seeds derive from them and its digest: summary.json); NASRecNet is the only model on "
        "test: there is nothing to compare it with."
    )


def test_the_front_counts_flops_per_example_as_the_other_tables_do(tmp_path: Path) -> None:
    _run_folder(tmp_path)
    summary = _with_front(tmp_path)
    text = build_report(tmp_path)
    budgets = "Budgets: dense params at most 1.50\u00a0M; 6 proposals over the budgets (never scored, never trained)."
    assert f"<p>{budgets}</p>" in text
    head = "<th>proxy log loss</th><th>FLOPs per example</th><th>from scratch (valid log loss)</th></tr></thead>"
    assert f'<div class="wide"><table id="front-table">\n<thead><tr><th class="text">digest</th>{head}' in text
    assert Page(text).tables["front-table"] == [
        ("", [m.digest, f"{m.values['logloss']:.5f}", flops, "0.45000"])
        for m, flops in zip(summary.front, ("994.87\u00a0k", "1.25\u00a0M"), strict=True)
    ]


def test_the_legends_hide_no_point_and_the_front_axis_is_in_flops_per_example(tmp_path: Path) -> None:
    """Each legend sits outside its axes, below them; the front's FLOPs read as in the tables, no "1e6" offset."""
    pytest.importorskip("matplotlib")
    _run_folder(tmp_path)
    _with_front(tmp_path)
    run = RunData(RunPaths(tmp_path))
    mpl = report_module._matplotlib()
    assert mpl is not None
    for draw in (draw_search_curve, draw_front):
        fig = mpl[0](figsize=(7.5, 4.2), layout="constrained")
        mpl[1](fig)
        draw(fig, run)
        fig.canvas.draw()
        (ax,), (legend,) = fig.axes, fig.legends
        assert legend.get_window_extent().y1 < ax.get_window_extent().y0, draw.__name__
    assert ax.get_xlabel() == "FLOPs per example" and ax.get_ylabel() == "proxy log loss (lower is better)"
    assert ax.xaxis.get_major_formatter()(994_870, 0) == "994.87\u00a0k" and ax.xaxis.get_offset_text().get_text() == ""


def test_a_damaged_best_genotype_file_is_named_once_relative_to_the_run(tmp_path: Path) -> None:
    _run_folder(tmp_path)
    RunPaths(tmp_path).best_genotype.write_text('{"schema_version": 1, "blocks": [')
    problems = Page(build_report(tmp_path)).ids["problems"]
    assert problems.startswith(
        "Problems reading the run folder:best_genotype.json: not a valid genotype (not valid JSON ("
    )
    assert str(tmp_path) not in problems
