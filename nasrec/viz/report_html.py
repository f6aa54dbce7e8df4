"""Small HTML and number-formatting helpers of the run report."""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from nasrec.evaluators.ranking import RankAgreement, agreement


def _matplotlib() -> tuple[Any, Any] | None:
    """matplotlib's `Figure` and Agg canvas, or None when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure, FigureCanvasAgg


TOP_K = 5
"""The k of the top-k overlap: the share of full training's k best that the proxy ranks among its k best too."""


def _agreement(proxy: Sequence[float], full: Sequence[float]) -> RankAgreement | None:
    if len(proxy) < 3:
        return None
    with warnings.catch_warnings():  # constant scores: scipy warns and returns nan, shown as n/a
        warnings.simplefilter("ignore")
        return agreement(proxy, full, k=min(TOP_K, len(proxy)))


def _overlap(agree: RankAgreement) -> tuple[str, str]:
    """The top-k overlap fact: its value where k < n; with k >= n both sets hold every candidate (always 1), so
    it says what it needs."""
    if agree.top_k < agree.n:
        return f"top-{agree.top_k} overlap", _f(agree.top_k_overlap, 3)
    return f"top-{TOP_K} overlap", f"needs more than {TOP_K} trained top-k candidates (have {agree.n})"


def _running_min(values: Iterable[float]) -> list[float]:
    """Best (lowest) value so far; non-finite values (a diverged proxy) never become the best; nan before any."""
    out: list[float] = []
    best = math.nan
    for v in values:
        if math.isfinite(v) and not v >= best:
            best = v
        out.append(best)
    return out


def _inline_svg(text: str) -> str | None:
    """The `<svg>` element of an SVG file (no XML prolog, doctype or comments), or None if there is none."""
    start = text.find("<svg")
    end = text.rfind("</svg>")
    if start < 0 or end < start:
        return None
    return text[start : end + len("</svg>")]


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _f(x: float | None, digits: int) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.{digits}f}"


def _sort_key(x: float | None) -> float:
    return x if x is not None and math.isfinite(x) else math.inf


def _si(n: float | None) -> str:
    """1234567 -> '1.23 M' (a no-break space before the unit: a cell never breaks it off); None -> 'n/a'."""
    if n is None:
        return "n/a"
    for div, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f}\u00a0{unit}"
    return f"{n:,.0f}"


def _duration(sec: float) -> str:
    sec = max(0.0, sec)
    h, rest = divmod(round(sec), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _facts(items: Sequence[tuple[str, ...]]) -> str:
    """A definition list; an optional third item is the `<dd>`'s id."""
    parts = ['<dl class="facts">']
    for item in items:
        key, value = item[0], item[1]
        ident = f' id="{_e(item[2])}"' if len(item) > 2 else ""
        parts.append(f"<dt>{_e(key)}</dt><dd{ident}>{_e(value)}</dd>")
    parts.append("</dl>")
    return "".join(parts)


def _table(
    ident: str,
    head: Sequence[str],
    rows: Sequence[tuple[str, Sequence[str]]],
    text_cols: Iterable[int] = (),
    digest_cols: Iterable[int] = (),
) -> str:
    """A table; each row is (its class, or "", its cells). Text columns align left, digests are monospace. It sits
    in a `div.wide`, which scrolls sideways where the page is narrower than the table (cells never wrap)."""
    text, digest = set(text_cols), set(digest_cols)

    def cls(i: int) -> str:
        return ' class="digest"' if i in digest else (' class="text"' if i in text else "")

    left = ' class="text"'
    th = "".join(f"<th{left if i in text | digest else ''}>{_e(h)}</th>" for i, h in enumerate(head))
    body = []
    for row_cls, cells in rows:
        tr = f'<tr class="{_e(row_cls)}">' if row_cls else "<tr>"
        body.append(tr + "".join(f"<td{cls(i)}>{_e(c)}</td>" for i, c in enumerate(cells)) + "</tr>")
    return (
        f'<div class="wide"><table id="{_e(ident)}">\n<thead><tr>{th}</tr></thead>\n<tbody>\n'
        + "\n".join(body)
        + "\n</tbody>\n</table></div>"
    )
