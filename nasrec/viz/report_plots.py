"""The run report's plots, shared by the HTML and the Markdown report: each `draw_*` draws on a matplotlib
`Figure`; `png` turns a drawing into PNG bytes (Agg canvas, no pyplot, no global backend change)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from nasrec.viz.report_data import (
    RunData,
    front_figure,
    proxy_figure,
    proxy_label,
    proxy_loss,
    score_of,
    size_name,
    strategy_name,
    trained_topk,
)
from nasrec.viz.report_html import _running_min, _si

PLOTS_NEED_MATPLOTLIB = "plots need matplotlib (pip install 'nasrec[report]')"
PLOT_DPI = 100


def png(mpl: tuple[Any, Any], draw: Callable[[Any], None]) -> bytes:
    """PNG bytes of what `draw(fig)` draws; `mpl` is `report_html._matplotlib()`'s (Figure, canvas) pair."""
    figure_cls, canvas_cls = mpl
    fig = figure_cls(figsize=(7.5, 4.2), layout="constrained")
    canvas_cls(fig)
    draw(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PLOT_DPI, metadata={"Software": None})
    return buf.getvalue()


def draw_search_curve(fig: Any, run: RunData) -> None:
    """Each scored candidate's proxy log loss and the running best, with random search's when the run has it."""
    xs = [e.index for e in run.scored]
    ys = [proxy_loss(e) for e in run.scored]
    n_failed = len(run.evaluations) - len(run.scored)
    rand = [e for e in run.random_evaluations if e.score is not None]
    figure = proxy_figure(score_of(run.scored[0]))  # "log loss", or "score" for `params`/`flops` (minus the size)
    ax = fig.add_subplot()
    ax.scatter(xs, ys, s=10, alpha=0.3, color="#1f5fbf", label=f"proxy {figure} of each candidate")
    ax.step(
        xs,
        _running_min(ys),
        where="post",
        color="#c0262d",
        linewidth=2,
        label=f"{strategy_name(run.config)}: best so far",
    )
    if rand:
        rx, ry = [e.index for e in rand], [proxy_loss(e) for e in rand]
        ax.scatter(rx, ry, s=10, alpha=0.25, color="#7a7a7a", marker="x", label="random search candidates")
        ax.step(
            rx,
            _running_min(ry),
            where="post",
            color="#333333",
            linewidth=2,
            linestyle="--",
            label="random search: best so far",
        )
    ax.set_xlabel("evaluation (order of completion)")
    ax.set_ylabel(f"proxy {figure} (lower is better)")
    ax.set_title(f"Search curve: {len(xs)} scored evaluations" + (f", {n_failed} failed" if n_failed else ""))
    ax.grid(alpha=0.3)
    _legend_below(fig, ax)


def _legend_below(fig: Any, ax: Any) -> None:
    """The legend of `ax` below the axes, outside them: it hides no point, wherever the points are."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)


def draw_proxy_vs_full(fig: Any, run: RunData, title: str) -> None:
    """Proxy against full-training log loss of the top-k, each labelled by its rank, the best one circled."""
    trained = trained_topk(run.topk)
    ax = fig.add_subplot()
    ax.scatter([p for _, p, _ in trained], [f for _, _, f in trained], s=30, color="#1f5fbf")
    for r, p, f in trained:
        ax.annotate(str(r.rank), (p, f), textcoords="offset points", xytext=(4, 3), fontsize=8)
    best = [(p, f) for r, p, f in trained if r.digest == run.best_digest]
    if best:
        ax.scatter(
            [best[0][0]],
            [best[0][1]],
            s=90,
            facecolors="none",
            edgecolors="#c0262d",
            linewidths=2,
            label="best architecture",
        )
        ax.legend(loc="best")  # where it covers the fewest points
    ax.set_xlabel(f"{proxy_label(run.topk[0].proxy)} {proxy_figure(run.topk[0].proxy)}")
    ax.set_ylabel("full-training log loss (validation)")
    ax.set_title(title)
    ax.grid(alpha=0.3)


def draw_front(fig: Any, run: RunData) -> None:
    """Proxy score against the second objective (FLOPs per example, dense params) of every scored candidate, and
    the Pareto front as a staircase."""
    summary = run.summary
    assert summary is not None and len(summary.objectives) > 1
    second = summary.objectives[1]
    scored = [e for e in run.scored if getattr(score_of(e), second) is not None]
    ax = fig.add_subplot()
    ax.scatter([getattr(score_of(e), second) for e in scored], [score_of(e).value for e in scored], s=10, alpha=0.3)
    members = sorted(summary.front, key=lambda m: m.values[second])
    xs, ys = [m.values[second] for m in members], [m.values["logloss"] for m in members]
    if len(summary.objectives) == 2:  # a front of two objectives is a staircase in their plane
        ax.step(xs, ys, where="post", color="#c0262d", marker="o", label=f"Pareto front ({len(members)})")
    else:  # of more: its members, seen against two of them (a member may look dominated here)
        rest = ", ".join(map(size_name, summary.objectives[2:]))
        ax.scatter(xs, ys, color="#c0262d", marker="o", label=f"Pareto front ({len(members)}; also by {rest})")
    ax.set_xlabel(size_name(second))
    ax.xaxis.set_major_formatter(lambda x, _: _si(x))  # 994.87 k as in the tables, no "1e6" offset
    ax.set_ylabel(f"proxy {front_figure(run)} (lower is better)")
    ax.grid(alpha=0.3)
    _legend_below(fig, ax)
