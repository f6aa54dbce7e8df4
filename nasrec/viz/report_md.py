"""The Markdown run report: the HTML report's sections as GitHub-flavoured Markdown, for a README or a PR.

`write_markdown_report(run_dir)` writes `RUN/report.md` and, beside it in `RUN/report_files/` (a report
`NAME.md`: `NAME_files/`, as browsers save a page, so reports in one folder keep their own), the images it links
to: `search_curve.png`, `proxy_vs_full.png`, `front.png` (matplotlib) and `best_genotype.svg` (a copy
of the run's own when it drew the best genotype, else drawn with graphviz). Sections (see
`nasrec.viz.report.SECTIONS`): overview, best architecture, search curve, proxy versus full training,
budgets and Pareto front, top-k table, final results with NASRecNet's paired differences and their 95 %
intervals, stage timings, run config. A run may be partial: a missing section says so. Same run folder and
report name, same text (the PNG bytes aside).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nasrec
from nasrec.errors import UsageError
from nasrec.genotype.errors import GenotypeError
from nasrec.state import atomic_write_bytes, atomic_write_text
from nasrec.viz.render import drawing, to_dot
from nasrec.viz.report import SECTIONS, final_note
from nasrec.viz.report_data import (
    FINAL_HEAD,
    TOPK_HEAD,
    RunData,
    best_facts,
    budgets_text,
    final_rows,
    front_figure,
    front_rows,
    open_run,
    overview_facts,
    proxy_figure,
    proxy_loss,
    score_of,
    size_name,
    trained_note,
    trained_topk,
)
from nasrec.viz.report_html import _agreement, _duration, _f, _matplotlib, _overlap, _running_min, _si
from nasrec.viz.report_plots import PLOTS_NEED_MATPLOTLIB, draw_front, draw_proxy_vs_full, draw_search_curve, png


def files_folder(path: str | Path) -> str:
    """The folder beside the Markdown file `path` that holds its images: `<stem>_files` (`report.md`:
    `report_files`), so two reports written into one folder do not share, and overwrite, each other's images."""
    return f"{Path(path).stem}_files"  # links quote it: a name with spaces or parentheses stays one link


def write_markdown_report(
    run_dir: str | Path, out: str | Path | None = None, on_problem: Callable[[str], None] | None = None
) -> Path:
    """Write the Markdown report of `run_dir` to `out` (default `RUN/report.md`), its images to
    `<stem>_files/` beside it (`files_folder`), and return its path. `on_problem` and `UsageError` as
    `nasrec.viz.report.write_report`."""
    paths = open_run(run_dir)
    path = Path(out) if out is not None else paths.root / "report.md"
    if path.is_dir():  # before any image is written beside it
        raise UsageError(f"cannot write {str(path)!r}: Is a directory")
    run = RunData(paths)
    report = _Markdown(run, files_folder(path))
    text = report.text()
    for problem in run.problems:
        if on_problem is not None:
            on_problem(problem)
    try:
        for rel, data in report.files.items():
            atomic_write_bytes(path.parent / rel, data)
        atomic_write_text(path, text)
    except OSError as exc:
        raise UsageError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return path


def _cell(text: Any) -> str:
    """A table cell: pipes escaped, no line breaks."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]], left: set[int] | frozenset[int] = frozenset()) -> str:
    """A GitHub-flavoured table; columns in `left` align left, the others right (numbers)."""
    rule = [":---" if i in left else "---:" for i in range(len(head))]
    lines = [head, rule, *rows]
    return "\n".join("| " + " | ".join(_cell(c) for c in line) + " |" for line in lines)


def _facts(items: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"- **{key}**: {value}" for key, value in items)


def _bold(cells: list[str]) -> list[str]:
    return [f"**{c}**" if c else c for c in cells]


class _Markdown:
    def __init__(self, run: RunData, folder: str) -> None:
        self.run = run
        self.folder = folder  # the images' folder beside the text, as the links name it
        self.files: dict[str, bytes] = {}  # relative path -> bytes, written beside the text
        self.missing: list[str] = []
        self.mpl = _matplotlib()

    def text(self) -> str:
        run = self.run
        body = {
            "architecture": self.architecture(),
            "search-curve": self.search_curve(),
            "proxy-vs-full": self.proxy_vs_full(),
            "front": self.front(),
            "topk": self.topk(),
            "final": self.final(),
            "timings": self.timings(),
            "config": self.config(),
        }
        body = {"overview": self.overview(), **body}  # the overview lists what the others found missing
        name = run.paths.root.resolve().name or str(run.paths.root)
        parts = [f"# NASRec run report: {name}", "", f"Run folder `{run.paths.root}` · nasrec {nasrec.__version__}"]
        for sid, title in SECTIONS.items():
            parts += ["", f"## {title}", "", body[sid]]
        return "\n".join(parts) + "\n"

    def unavailable(self, section: str, reason: str) -> str:
        self.missing.append(f"{SECTIONS[section]}: {reason}")
        return f"_Not available yet: {reason}._"

    def image(self, name: str, draw: Callable[[Any], None], alt: str) -> str:
        """A link to `<folder>/<name>.png`, drawn by `draw(fig)`, or the matplotlib hint."""
        if self.mpl is None:
            return f"_{PLOTS_NEED_MATPLOTLIB}_"
        rel = f"{self.folder}/{name}.png"
        self.files[rel] = png(self.mpl, draw)
        return f"![{alt}]({quote(rel)})"

    # -- sections ----------------------------------------------------------------------------------
    def overview(self) -> str:
        run = self.run
        facts = overview_facts(run, code=lambda digest: f"`{digest}`")
        out = [_facts(facts)]
        if self.missing:
            out.append("> **Not available yet:**\n" + "\n".join(f"> - {m}" for m in self.missing))
        if run.problems:
            out.append("> **Problems reading the run folder:**\n" + "\n".join(f"> - {p}" for p in run.problems))
        return "\n\n".join(out)

    def architecture(self) -> str:
        run = self.run
        g = run.best
        if g is None:
            return self.unavailable("architecture", "no best_genotype.json and no scored evaluation")
        assert run.best_digest is not None
        facts = [("digest", f"`{run.best_digest}`"), *best_facts(run, run.best_digest)]
        return _facts(facts) + "\n\n" + self.diagram()

    def diagram(self) -> str:
        run = self.run
        assert run.best is not None
        rel = f"{self.folder}/best_genotype.svg"
        try:  # the pipeline's drawing of the best genotype, copied: the report's files travel with it
            self.files[rel] = run.best_svg if run.best_svg is not None else drawing(run.best, "svg")
        except (UsageError, RuntimeError, GenotypeError) as exc:
            return f"_No drawing ({exc}); the diagram's DOT source:_\n\n```dot\n{to_dot(run.best)}```"
        return f"![best architecture]({quote(rel)})"

    def search_curve(self) -> str:
        run = self.run
        if not run.evaluations:
            state = "is empty" if run.paths.evaluations.exists() else "does not exist"
            return self.unavailable("search-curve", f"no evaluations ({run.rel(run.paths.evaluations)} {state})")
        if not run.scored:
            return self.unavailable("search-curve", f"all {len(run.evaluations)} evaluations failed")
        running = _running_min([proxy_loss(e) for e in run.scored])
        failed = len(run.evaluations) - len(run.scored)
        figure = proxy_figure(score_of(run.scored[0]))
        text = f"Best proxy {figure} {_f(running[-1], 5)} after {len(run.evaluations)} evaluations; {failed} failed."
        ry = [proxy_loss(e) for e in run.random_evaluations if e.score is not None]
        if ry:
            text += (
                f"\n\nRandom search with the same budget: best {_f(_running_min(ry)[-1], 5)} after "
                f"{len(run.random_evaluations)} evaluations."
            )
        alt = "search curve: best proxy log loss against evaluations"
        return text + "\n\n" + self.image("search_curve", lambda fig: draw_search_curve(fig, run), alt)

    def proxy_vs_full(self) -> str:
        run = self.run
        if not run.topk:
            return self.unavailable(
                "proxy-vs-full", f"no top-k candidates trained from scratch ({run.rel(run.paths.topk)})"
            )
        trained = trained_topk(run.topk)
        agree = _agreement([p for _, p, _ in trained], [f for _, _, f in trained])
        if agree is None:
            stats = f"_Rank agreement needs at least 3 trained top-k candidates ({trained_note(run.topk)})._"
            title = f"Proxy versus full training (n = {len(trained)})"
        else:
            stats = _facts(
                [
                    ("candidates", str(agree.n)),
                    ("Kendall τ", _f(agree.kendall_tau, 3)),
                    ("Spearman ρ", _f(agree.spearman_rho, 3)),
                    ("Pearson r", _f(agree.pearson_r, 3)),
                    _overlap(agree),
                ]
            )
            title = (
                rf"Kendall $\tau$ = {_f(agree.kendall_tau, 3)}, Spearman $\rho$ = "
                f"{_f(agree.spearman_rho, 3)} (n = {agree.n})"
            )
        alt = "proxy versus full-training log loss of the top-k"
        return stats + "\n\n" + self.image("proxy_vs_full", lambda fig: draw_proxy_vs_full(fig, run, title), alt)

    def front(self) -> str:
        run, summary = self.run, self.run.summary
        if summary is None:
            return self.unavailable("front", "the run has no summary.json")
        text = budgets_text(run)
        if len(summary.objectives) < 2:
            return text + f"\n\nOne objective ({summary.objectives[0]}): no Pareto front."
        second = summary.objectives[1]
        scored = [e for e in run.scored if getattr(score_of(e), second) is not None]
        head, rows = front_rows(run)
        alt = f"proxy {front_figure(run)} against {size_name(second)}"
        return "\n\n".join(
            [
                text,
                self.image("front", lambda fig: draw_front(fig, run), alt),
                f"Pareto front of {len(scored)} scored candidates ({len({m.digest for m in summary.front})} "
                "members); top-k draws from it first.",
                _md_table(head, [[f"`{cells[0]}`", *cells[1:]] for cells in rows], left={0}),
            ]
        )

    def topk(self) -> str:
        run = self.run
        if not run.topk:
            return self.unavailable("topk", f"no top-k results ({run.rel(run.paths.topk)})")
        rows = []
        for r in run.topk:
            full = r.full
            flops = full.flops if full is not None and full.flops is not None else r.proxy.flops
            params = full.params if full is not None and full.params is not None else r.proxy.params
            cells = [
                str(r.rank),
                f"`{r.digest}`",
                _f(r.proxy.log_loss, 5),
                _f(r.proxy.auc, 4),
                _f(full.log_loss, 5) if full else "diverged",
                _f(full.auc, 4) if full else "",
                _si(flops),
                _si(params),
            ]
            rows.append(_bold(cells) if r.digest == run.best_digest else cells)
        return _md_table(TOPK_HEAD, rows, left={1}) + "\n\nThe best architecture's row is bold."

    def final(self) -> str:
        run = self.run
        if not run.final:
            return self.unavailable("final", f"no final results ({run.rel(run.paths.final)})")
        rows = []
        for f, cells in final_rows(run):
            cells[2] = f"`{cells[2]}`"
            rows.append(_bold(cells) if f.kind == "nasrec" else cells)
        return _md_table(FINAL_HEAD, rows, left={0, 1, 2, 6, 7}) + "\n\n" + final_note(run, "in bold")

    def timings(self) -> str:
        run = self.run
        if run.summary is None:
            return self.unavailable("timings", f"no {run.rel(run.paths.summary)} (written when the run ends)")
        stages = run.summary.stage_seconds
        total = sum(stages.values())
        rows = [
            [stage, _duration(sec), f"{sec:.1f}", f"{100 * sec / total:.1f}%" if total > 0 else "n/a"]
            for stage, sec in stages.items()
        ]
        rows.append(["total", _duration(total), f"{total:.1f}", "100.0%" if total > 0 else "n/a"])
        return _md_table(["stage", "time", "seconds", "share"], rows, left={0})

    def config(self) -> str:
        run = self.run
        if run.config is None:
            return self.unavailable("config", f"no readable {run.rel(run.paths.config)}")
        return "```json\n" + json.dumps(run.config, indent=2, ensure_ascii=False) + "\n```"
