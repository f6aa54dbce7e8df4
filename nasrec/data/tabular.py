"""Generic delimited text with a header: the caller names the label, dense and sparse columns.

Label values must be 0 or 1; dense values numbers (empty or blank = missing -> 0; log(max(x, 0) + 1) unless
`log_dense=False`); sparse values any text (empty = missing). Quoted fields are not supported: a row with a
field that starts with `"` is a bad row (it may hide a delimiter); a `"` inside a field is text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nasrec.data.errors import DataError, listed_names
from nasrec.data.parsing import Layout
from nasrec.data.rawio import read_first_line


def csv_layout(
    path: str | Path,
    label: str,
    dense: Sequence[str],
    sparse: Sequence[str],
    *,
    delimiter: str = ",",
    log_dense: bool = True,
) -> Layout:
    if len(delimiter.encode()) != 1:
        raise DataError(f"delimiter must be one byte, got {delimiter!r}", file=str(path), rule="delimiter")
    header, _ = read_first_line(path)
    if not header:
        raise DataError("empty file (expected a header line)", file=str(path), line=1, rule="header")
    if b"\r" in header:
        raise DataError(
            "the header line holds a carriage return: the file's lines end in CR alone; convert them to LF or CRLF",
            file=str(path),
            line=1,
            rule="header",
        )
    names = [n.strip() for n in header.decode("utf-8", "replace").removeprefix("\ufeff").split(delimiter)]
    wanted = [label, *dense, *sparse]
    absent = [c for c in wanted if c not in names]
    if absent:
        raise DataError(
            f"header lacks column(s) {', '.join(absent)} (has: {listed_names(names)})",
            file=str(path),
            line=1,
            rule="missing column",
        )
    if not sparse:
        raise DataError("at least one sparse column is needed", file=str(path), rule="columns")
    dupes = sorted({c for c in wanted if wanted.count(c) > 1})
    if dupes:
        raise DataError(f"column(s) named more than once: {', '.join(dupes)}", file=str(path), rule="columns")
    return Layout(
        name="csv",
        delimiter=delimiter.encode(),
        n_fields=len(names),
        label_col=names.index(label),
        dense_cols=tuple(names.index(c) for c in dense),
        dense_names=tuple(dense),
        sparse_cols=tuple(names.index(c) for c in sparse),
        sparse_names=tuple(sparse),
        key_kind="bytes",
        header=True,
        log_dense=log_dense,
        reject_quotes=True,
        blank_missing=True,
        constant_dense=0.0 if not dense else None,
    )
