"""The report's "Budgets and Pareto front" section: budgets applied and proposals they rejected, and, with
several objectives, the front of the search drawn on proxy log loss against FLOPs (or params) with its members
and their scores trained from scratch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nasrec.viz.report_data import RunData, score_of
from nasrec.viz.report_html import _e, _f
from nasrec.viz.report_plots import draw_front


def budgets_and_front(run: RunData, plot: Callable[[Callable[[Any], None], str], str]) -> str:
    """The section's HTML; the caller reports a run without summary.json as unavailable."""
    summary = run.summary
    assert summary is not None
    limits = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in summary.limits.items()) or "none"
    out = [
        f"<p>Budgets: {_e(limits)}; {summary.rejected} proposals over the budgets (never scored, never trained).</p>"
    ]
    if len(summary.objectives) < 2:
        out.append(f"<p>One objective ({_e(summary.objectives[0])}): no Pareto front.</p>")
        return "\n".join(out)
    second, others = summary.objectives[1], summary.objectives[1:]
    front = {m.digest for m in summary.front}
    scored = [e for e in run.scored if getattr(score_of(e), second) is not None]
    out.append(plot(lambda fig: draw_front(fig, run), f"proxy score against {second} with the Pareto front"))
    rows = "".join(
        f'<tr><td class="digest">{_e(m.digest)}</td><td>{_f(m.values["logloss"], 5)}</td>'
        + "".join(f"<td>{m.values[o]:,.0f}</td>" for o in others)
        + f"<td>{_f(m.full_log_loss, 5)}</td></tr>"
        for m in summary.front
    )
    heads = "".join(f"<th>{_e(o)}</th>" for o in others)
    out.append(
        f"<p>Pareto front of {len(scored)} scored candidates ({len(front)} members); top-k draws from it first.</p>"
        f'<table><tr><th class="text">digest</th><th>proxy</th>{heads}'
        f"<th>from scratch (valid log loss)</th></tr>{rows}</table>"
    )
    return "\n".join(out)
