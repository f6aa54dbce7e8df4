"""The report's "Budgets and Pareto front" section: budgets applied and proposals they rejected, and, with
several objectives, the front of the search drawn on proxy log loss against FLOPs per example (or dense params)
with its members and their scores trained from scratch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nasrec.viz.report_data import RunData, budgets_text, front_figure, front_rows, score_of, size_name
from nasrec.viz.report_html import _e, _table
from nasrec.viz.report_plots import draw_front


def budgets_and_front(run: RunData, plot: Callable[[Callable[[Any], None], str], str]) -> str:
    """The section's HTML; the caller reports a run without summary.json as unavailable."""
    summary = run.summary
    assert summary is not None
    out = [f"<p>{_e(budgets_text(run))}</p>"]
    if len(summary.objectives) < 2:
        out.append(f"<p>One objective ({_e(summary.objectives[0])}): no Pareto front.</p>")
        return "\n".join(out)
    second = summary.objectives[1]
    scored = [e for e in run.scored if getattr(score_of(e), second) is not None]
    alt = f"proxy {front_figure(run)} against {size_name(second)} with the Pareto front"
    out.append(plot(lambda fig: draw_front(fig, run), alt))
    head, rows = front_rows(run)
    out.append(
        f"<p>Pareto front of {len(scored)} scored candidates ({len({m.digest for m in summary.front})} members); "
        "top-k draws from it first.</p>"
    )
    out.append(_table("front-table", head, [("", cells) for cells in rows], digest_cols={0}))
    return "\n".join(out)
