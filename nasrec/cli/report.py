"""`nasrec report`: a run folder's report as one HTML page or as Markdown with its images beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasrec.cli.common import console, note, user_errors
from nasrec.errors import UsageError

REPORT_FORMATS = {".html": "html", ".htm": "html", ".md": "md"}


def report_format(out: Path | None, format: str | None) -> str:
    """html or md: `format`, else `out`'s suffix, else html; a suffix naming the other format is an error, and
    without `format` one naming neither (a .pdf holding HTML would mislead)."""
    if format is not None and format not in ("html", "md"):
        raise UsageError(f"--format: html or md, got {format!r}")
    if format is None and out is not None and out.suffix and out.suffix.lower() not in REPORT_FORMATS:
        raise UsageError(
            f"-o {out}: a report is written as HTML (.html, .htm) or Markdown (.md), not {out.suffix}; "
            "name the file with one of those suffixes"
        )
    by_suffix = REPORT_FORMATS.get(out.suffix.lower()) if out is not None else None
    if format is not None and by_suffix is not None and by_suffix != format:
        raise UsageError(f"-o {out}: the suffix says {by_suffix}, --format says {format}; rename one of them")
    return format or by_suffix or "html"


def check_report_path(run: Path, out: Path | None) -> None:
    """A report written into the run folder may replace an earlier report, never one of the run's own files."""
    if out is None or not out.exists() or not run.is_dir():
        return
    inside = out.resolve().is_relative_to(run.resolve())
    if inside and not (out.is_file() and out.name.startswith("report") and out.suffix in REPORT_FORMATS):
        raise UsageError(f"-o {out}: a file of the run folder {run}; write the report elsewhere or to a new name")


@user_errors
def report(
    run: Annotated[Path, typer.Argument(help="A run folder of `nasrec search`.")],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Report file (default RUN/report.html or RUN/report.md).")
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="html: one self-contained page; md: Markdown with its images in NAME_files/ beside the report "
            "NAME.md (report_files/ for RUN/report.md). Default: by -o's suffix, else html.",
        ),
    ] = None,
) -> None:
    """Write the run's report: a self-contained HTML page, or Markdown with its images beside it."""
    check_report_path(run, out)
    if report_format(out, format) == "md":
        from nasrec.viz.report_md import write_markdown_report

        console.print(f"wrote {write_markdown_report(run, out, on_problem=_problem)}", highlight=False)
        return
    from nasrec.viz.report import write_report

    console.print(f"wrote {write_report(run, out, on_problem=_problem)}", highlight=False)


def _problem(text: str) -> None:
    """A problem reading the run folder, on stderr as well as on the page (the report is still written)."""
    note(f"{text} (listed in the report)")
