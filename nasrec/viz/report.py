"""The HTML run report: one self-contained page about a search run folder (layout: `nasrec.records`).

`write_report(run_dir)` reads whatever the folder holds so far and writes `RUN/report.html`:

- overview: evaluations, the best candidate, the missing parts;
- the best architecture: its diagram as inline SVG (`best_genotype.svg` if it drew the best genotype, else
  drawn with graphviz's `dot`), FLOPs, dense params and its scores;
- the search curve: running best proxy log loss against evaluations, each score a faint dot;
- proxy versus full training for the top-k, with Kendall tau, Spearman rho, Pearson r (`agreement`);
- the top-k table and the final results table (NASRecNet highlighted);
- stage timings (`summary.json`) and the run's `config.json`.

A run may be partial (still searching, or killed): a section whose files are not there yet says so instead
of failing; unreadable lines of a JSONL file are skipped and listed (`report_data`). Reading never modifies
the run folder; the only file written is the report, atomically.

Plots are matplotlib PNGs (Agg canvas, no pyplot, no global backend change) embedded as base64 data URIs.
matplotlib is an optional extra, imported only when a report is built; without it every plot is replaced by
`PLOTS_NEED_MATPLOTLIB`. Everything but the PNG bytes is deterministic: same folder, same text.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nasrec
from nasrec.errors import UsageError
from nasrec.genotype.errors import GenotypeError
from nasrec.genotype.schema import Genotype
from nasrec.records import RunPaths
from nasrec.state import atomic_write_text
from nasrec.viz.render import drawing, to_dot
from nasrec.viz.report_data import (
    FINAL_HEAD,
    TOPK_HEAD,
    RunData,
    best_facts,
    diverged_note,
    final_rows,
    open_run,
    overview_facts,
    proxy_figure,
    proxy_loss,
    score_of,
    trained_note,
    trained_topk,
)
from nasrec.viz.report_front import budgets_and_front
from nasrec.viz.report_html import (
    _agreement,
    _duration,
    _e,
    _f,
    _facts,
    _inline_svg,
    _matplotlib,
    _overlap,
    _running_min,
    _si,
    _table,
)
from nasrec.viz.report_plots import PLOT_DPI, PLOTS_NEED_MATPLOTLIB, draw_proxy_vs_full, draw_search_curve, png

__all__ = ["PLOTS_NEED_MATPLOTLIB", "PLOT_DPI", "SECTIONS", "build_report", "write_report"]

SECTIONS = {
    "overview": "Overview",
    "architecture": "Best architecture",
    "search-curve": "Search curve",
    "proxy-vs-full": "Proxy versus full training",
    "front": "Budgets and Pareto front",
    "topk": "Top-k candidates",
    "final": "Final results (test)",
    "timings": "Stage timings",
    "config": "Run config",
}
"""Section ids (HTML anchors) and titles, in page order."""

METHOD_NAMES = {"bootstrap": "bootstrap", "normal": "normal", "delong": "DeLong", "t": "t"}
"""How the final table's note names each `Interval.method`."""


def interval_note(run: RunData) -> str:
    """What the final table's intervals are, as their `method` fields say: "paired bootstrap 95 % intervals ..."
    where every interval is one kind, else each metric's methods ("normal (log loss) and DeLong (AUC)": the
    analytic intervals above `BOOTSTRAP_MAX_ROWS` test rows); "" where the run has no comparisons."""
    comparisons = list(run.summary.comparisons.values()) if run.summary is not None else []
    ll, auc = ([getattr(c, metric).method for c in comparisons] for metric in ("log_loss", "auc"))

    def named(methods: list[str]) -> str:
        return " / ".join(METHOD_NAMES.get(m, m) for m in dict.fromkeys(methods))

    rows = "95 % intervals over the test rows, pooled over seeds"
    if not comparisons:
        return ""
    if len(set(ll + auc)) == 1:
        return f"intervals are paired {named(ll)} {rows}"
    return f"intervals are paired {rows}: {named(ll)} (log loss) and {named(auc)} (AUC)"


def final_note(run: RunData, marked: str) -> str:
    """The final table's note: its order, the seeds, what the intervals are and how to read the differences (with
    no other model, that there is nothing to compare), the models left out; `marked`: how NASRecNet's row is."""
    seeds = run.summary.seeds if run.summary is not None else []
    note = (
        f"Sorted by test log loss; NASRecNet {marked}. Every model trained with the final seeds "
        f"{', '.join(map(str, seeds)) or 'n/a'} (each model's training seeds derive from them and its digest: "
        "summary.json)"
    )
    intervals = interval_note(run)
    if all(f.kind == "nasrec" for f in run.final):
        note += "; NASRecNet is the only model on test: there is nothing to compare it with."
    elif not intervals:
        note += "; no paired differences (none in summary.json)."
    else:
        note += (
            f"; {intervals}. Differences are NASRecNet minus the model: a negative log-loss or a positive AUC "
            "difference means NASRecNet is better."
        )
    return note + diverged_note(run)


def write_report(
    run_dir: str | Path, out: str | Path | None = None, on_problem: Callable[[str], None] | None = None
) -> Path:
    """Write the HTML report of `run_dir` to `out` (default `RUN/report.html`) and return its path; each
    problem reading the folder (an unreadable file, a damaged log line), listed on the page, is also passed to
    `on_problem`.

    Raises `UsageError` when `run_dir` is not a folder, holds no run (no `config.json` of `nasrec search`)
    or `out` cannot be written.
    """
    paths = open_run(run_dir)
    run = RunData(paths)
    text = _Report(run).html()
    for problem in run.problems:
        if on_problem is not None:
            on_problem(problem)
    path = Path(out) if out is not None else paths.report
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise UsageError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return path


def build_report(run_dir: str | Path) -> str:
    """The report's HTML text (what `write_report` writes)."""
    return _Report(RunData(RunPaths(run_dir))).html()


# -- the page --------------------------------------------------------------------------------------
CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1400px;
       padding: 1.5em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.8em; }
nav a { margin-right: 1em; white-space: nowrap; } .muted { color: #777; }
p, dl.facts, .missing, .problem { max-width: 1100px; }
.missing { background: #fff6e0; border-left: 4px solid #e0a000; padding: .5em .8em; }
.problem { background: #fde8e8; border-left: 4px solid #c0262d; padding: .5em .8em; }
.unavailable { color: #8a6d00; font-style: italic; }
.no-plot { border: 1px dashed #bbb; padding: 2em; text-align: center; color: #777; }
table { border-collapse: collapse; margin: .5em 0; font-size: .92em; }
div.wide { overflow-x: auto; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
td.digest { font-family: ui-monospace, Menlo, Consolas, monospace; text-align: left; }
tr.nasrec td { background: #e8f3e1; font-weight: bold; } tr.best td { background: #eef4fd; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .15em 1em; }
dl.facts dt { font-weight: bold; } dl.facts dd { margin: 0; }
.diagram { overflow: auto; border: 1px solid #eee; padding: .5em; }
.diagram svg { max-width: 100%; height: auto; }
img.plot { max-width: 100%; }
pre { background: #f7f7f7; padding: .8em; overflow: auto; font-size: .85em; }
"""


class _Report:
    def __init__(self, run: RunData) -> None:
        self.run = run
        self.missing: list[str] = []  # "section: reason", filled while the sections are built
        self.mpl = _matplotlib()

    def html(self) -> str:
        run = self.run
        body = {
            "architecture": self.architecture(),
            "search-curve": self.search_curve(),
            "proxy-vs-full": self.proxy_vs_full(),
            "front": (
                budgets_and_front(self.run, self.plot)
                if self.run.summary is not None
                else self.unavailable("front", "the run has no summary.json")
            ),
            "topk": self.topk(),
            "final": self.final(),
            "timings": self.timings(),
            "config": self.config(),
        }
        body = {"overview": self.overview(), **body}  # the overview lists what the others found missing
        name = run.paths.root.resolve().name or str(run.paths.root)
        nav = " ".join(f'<a href="#{sid}">{_e(title)}</a>' for sid, title in SECTIONS.items())
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>NASRec run report: {_e(name)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            f"<h1>NASRec run report: {_e(name)}</h1>",
            f'<p class="muted">run folder {_e(str(run.paths.root))} · nasrec {_e(nasrec.__version__)}</p>',
            f"<nav>{nav}</nav>",
        ]
        for sid, title in SECTIONS.items():
            parts.append(f'<section id="{sid}">\n<h2>{_e(title)}</h2>\n{body[sid]}\n</section>')
        parts += ["</body>", "</html>", ""]
        return "\n".join(parts)

    def unavailable(self, section: str, reason: str) -> str:
        self.missing.append(f"{SECTIONS[section]}: {reason}")
        return f'<p class="unavailable">Not available yet: {_e(reason)}.</p>'

    def plot(self, draw: Any, alt: str) -> str:
        """A PNG `<img>` of what `draw(fig)` draws, or the matplotlib hint."""
        if self.mpl is None:
            return f'<p class="no-plot">{_e(PLOTS_NEED_MATPLOTLIB)}</p>'
        data = base64.b64encode(png(self.mpl, draw)).decode("ascii")
        return f'<img class="plot" alt="{_e(alt)}" src="data:image/png;base64,{data}">'

    # -- sections ----------------------------------------------------------------------------------
    def overview(self) -> str:
        run = self.run
        facts = overview_facts(run)
        out = [_facts(facts)]
        if self.missing:
            items = "".join(f"<li>{_e(m)}</li>" for m in self.missing)
            out.append(f'<div class="missing" id="missing"><p>Not available yet:</p><ul>{items}</ul></div>')
        if run.problems:
            items = "".join(f"<li>{_e(p)}</li>" for p in run.problems)
            out.append(
                f'<div class="problem" id="problems"><p>Problems reading the run folder:</p><ul>{items}</ul></div>'
            )
        return "\n".join(out)

    def architecture(self) -> str:
        run = self.run
        g = run.best
        if g is None:
            return self.unavailable("architecture", "no best_genotype.json and no scored evaluation")
        assert run.best_digest is not None
        facts = [("digest", run.best_digest), *best_facts(run, run.best_digest)]
        return _facts(facts) + "\n" + self.diagram(g)

    def diagram(self, g: Genotype) -> str:
        run = self.run
        svg: str | None = None
        note = ""
        if run.best_svg is not None:  # the pipeline's drawing of the best genotype
            svg = _inline_svg(run.best_svg.decode("utf-8", errors="replace"))
        if svg is None:
            try:
                svg = _inline_svg(drawing(g, "svg").decode())
            except (UsageError, RuntimeError, GenotypeError) as exc:
                note = f"No drawing ({exc}); the diagram's DOT source:"
        if svg is not None:
            return f'<div class="diagram">\n{svg}\n</div>'
        return f'<p class="unavailable">{_e(note)}</p>\n<pre>{_e(to_dot(g))}</pre>'

    def search_curve(self) -> str:
        run = self.run
        if not run.evaluations:
            return self.unavailable(
                "search-curve",
                f"no evaluations ({run.rel(run.paths.evaluations)} "
                + ("is empty)" if run.paths.evaluations.exists() else "does not exist)"),
            )
        if not run.scored:
            return self.unavailable("search-curve", f"all {len(run.evaluations)} evaluations failed")
        running = _running_min([proxy_loss(e) for e in run.scored])
        n_failed = len(run.evaluations) - len(run.scored)
        ry = [proxy_loss(e) for e in run.random_evaluations if e.score is not None]
        figure = proxy_figure(score_of(run.scored[0]))
        text = (
            f"<p>Best proxy {figure} {_f(running[-1], 5)} after {len(run.evaluations)} evaluations; "
            f"{n_failed} failed.</p>"
        )
        if ry:
            text += (
                f"\n<p>Random search with the same budget: best {_f(_running_min(ry)[-1], 5)} after "
                f"{len(run.random_evaluations)} evaluations.</p>"
            )
        alt = "search curve: best proxy log loss against evaluations"
        return text + "\n" + self.plot(lambda fig: draw_search_curve(fig, run), alt)

    def proxy_vs_full(self) -> str:
        run = self.run
        if not run.topk:
            return self.unavailable(
                "proxy-vs-full", f"no top-k candidates trained from scratch ({run.rel(run.paths.topk)})"
            )
        trained = trained_topk(run.topk)
        agree = _agreement([p for _, p, _ in trained], [f for _, _, f in trained])
        if agree is None:
            note = f"Rank agreement needs at least 3 trained top-k candidates ({trained_note(run.topk)})."
            stats = f'<p class="unavailable">{_e(note)}</p>'
            title = f"Proxy versus full training (n = {len(trained)})"
        else:
            stats = _facts(
                [
                    ("candidates", str(agree.n)),
                    ("Kendall τ", _f(agree.kendall_tau, 3), "kendall-tau"),
                    ("Spearman ρ", _f(agree.spearman_rho, 3), "spearman-rho"),
                    ("Pearson r", _f(agree.pearson_r, 3), "pearson-r"),
                    (*_overlap(agree), "top-k-overlap"),
                ]
            )
            title = (
                rf"Kendall $\tau$ = {_f(agree.kendall_tau, 3)}, Spearman $\rho$ = "
                f"{_f(agree.spearman_rho, 3)} (n = {agree.n})"
            )

        alt = "proxy versus full-training log loss of the top-k"
        return stats + "\n" + self.plot(lambda fig: draw_proxy_vs_full(fig, run, title), alt)

    def topk(self) -> str:
        run = self.run
        if not run.topk:
            return self.unavailable("topk", f"no top-k results ({run.rel(run.paths.topk)})")
        rows = []
        for r in run.topk:
            full = r.full
            flops = full.flops if full is not None and full.flops is not None else r.proxy.flops
            params = full.params if full is not None and full.params is not None else r.proxy.params
            rows.append(
                (
                    "best" if r.digest == run.best_digest else "",
                    [
                        str(r.rank),
                        r.digest,
                        _f(r.proxy.log_loss, 5),
                        _f(r.proxy.auc, 4),
                        _f(full.log_loss, 5) if full else "diverged",
                        _f(full.auc, 4) if full else "",
                        _si(flops),
                        _si(params),
                    ],
                )
            )
        return _table("topk-table", TOPK_HEAD, rows, digest_cols={1})

    def final(self) -> str:
        run = self.run
        if not run.final:
            return self.unavailable("final", f"no final results ({run.rel(run.paths.final)})")
        rows = [("nasrec" if f.kind == "nasrec" else "", cells) for f, cells in final_rows(run)]
        return (
            _table("final-table", FINAL_HEAD, rows, text_cols={0, 1, 6, 7}, digest_cols={2})
            + f'\n<p class="muted" id="final-note">{_e(final_note(run, "highlighted"))}</p>'
        )

    def timings(self) -> str:
        run = self.run
        if run.summary is None:
            return self.unavailable("timings", f"no {run.rel(run.paths.summary)} (written when the run ends)")
        stages = run.summary.stage_seconds
        total = sum(stages.values())
        rows = [
            ("", [stage, _duration(sec), f"{sec:.1f}", f"{100 * sec / total:.1f}%" if total > 0 else "n/a"])
            for stage, sec in stages.items()
        ]
        rows.append(("", ["total", _duration(total), f"{total:.1f}", "100.0%" if total > 0 else "n/a"]))
        return _table("timings-table", ["stage", "time", "seconds", "share"], rows, text_cols={0})

    def config(self) -> str:
        run = self.run
        if run.config is None:
            return self.unavailable("config", f"no readable {run.rel(run.paths.config)}")
        text = json.dumps(run.config, indent=2, ensure_ascii=False)
        return f'<pre id="config-json">{_e(text)}</pre>'
