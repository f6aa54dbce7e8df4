"""Parquet input (extra `parquet`: pyarrow): one or more files streamed row group by row group into the same
`Parsed` chunks the text readers produce, so encoding, bad-row rules and the cache are shared.

Rules, as for a CSV: the label must be 0 or 1 (integers, booleans, floats 0.0/1.0 or the strings "0"/"1";
null is a bad row); dense values numbers (null, NaN, "" and blank text are missing -> 0; +-inf or text that
is not a number is a bad row); sparse values anything, keyed by the FNV-1a hash of their text (so a Parquet
file and a CSV of the same texts prepare to the same arrays; typed labels and NaN or boolean dense values are
what a CSV's text cannot say); null and "" are missing. Rows are numbered from 1 across the files in the order
given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from nasrec.data.errors import BAD_DENSE, BAD_LABEL, DataError, listed_names
from nasrec.data.parsing import Layout, Parsed, fnv1a

BATCH_ROWS = 1 << 16


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("Parquet input needs pyarrow: pip install 'nasrec[parquet]'", rule="dependency") from None
    return pa, pc, pq


def _open(path: Path):
    pa, _, pq = _pyarrow()
    if not path.is_file():
        raise DataError("a folder, not a file" if path.is_dir() else "no such file", file=str(path), rule="file")
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"not a Parquet file ({exc})", file=str(path), rule="parquet") from None


def parquet_layout(
    files: Sequence[Path], label: str, dense: Sequence[str], sparse: Sequence[str], *, log_dense: bool = True
) -> Layout:
    """The layout of the columns read (label, dense..., sparse...); every file must have them all."""
    wanted = [label, *dense, *sparse]
    if not sparse:
        raise DataError("at least one sparse column is needed", file=str(files[0]), rule="columns")
    dupes = sorted({c for c in wanted if wanted.count(c) > 1})
    if dupes:
        raise DataError(f"column(s) named more than once: {', '.join(dupes)}", file=str(files[0]), rule="columns")
    pa, _, _ = _pyarrow()
    for path in files:
        schema = _open(path).schema_arrow
        absent = [c for c in wanted if c not in schema.names]
        if absent:
            raise DataError(
                f"lacks column(s) {', '.join(absent)} (has: {listed_names(schema.names)})",
                file=str(path),
                rule="missing column",
            )
        for c in wanted:
            kind = schema.field(c).type
            if pa.types.is_nested(kind):
                raise DataError(
                    f"column {c} holds {kind} values; one value per row is needed (numbers, text or bytes)",
                    file=str(path),
                    rule="columns",
                )
    n_dense = len(dense)
    return Layout(
        name="parquet",
        delimiter=b",",
        n_fields=len(wanted),
        label_col=0,
        dense_cols=tuple(range(1, 1 + n_dense)),
        dense_names=tuple(dense),
        sparse_cols=tuple(range(1 + n_dense, len(wanted))),
        sparse_names=tuple(sparse),
        log_dense=log_dense,
        constant_dense=0.0 if not dense else None,
    )


def total_rows(files: Sequence[Path]) -> int:
    return sum(_open(p).metadata.num_rows for p in files)


def iter_parquet(
    files: Sequence[Path], label: str, layout: Layout, on_progress: Callable[[int], None] | None = None
) -> Iterator[tuple[Path, Parsed]]:
    """(file, parsed batch) for every batch of every file's row groups; `on_progress(rows read so far)`."""
    pa, _, _ = _pyarrow()
    columns = [label, *layout.dense_names, *layout.sparse_names]
    first = 1
    for path in files:
        pf = _open(path)
        try:
            for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                yield path, _parse(batch, first, layout)
                first += batch.num_rows
                if on_progress is not None:
                    on_progress(first - 1)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"cannot read a row group ({exc})", file=str(path), rule="parquet") from None


def _parse(batch, first: int, layout: Layout) -> Parsed:
    pa, pc, _ = _pyarrow()
    n = batch.num_rows
    label_col = batch.column(0)
    label, label_ok = _label(pa, label_col)
    reason: dict[int, tuple[str, str]] = {}
    for r in np.flatnonzero(~label_ok).tolist():
        value = label_col[r].as_py()
        reason[r] = (BAD_LABEL, "label is null" if value is None else f"label {value!r} is not 0 or 1")
    row_bad = ~label_ok
    if layout.constant_dense is not None:
        dense = np.full((n, 1), layout.constant_dense, dtype=np.float32)
    else:
        values = np.zeros((n, len(layout.dense_cols)))
        for j, c in enumerate(layout.dense_cols):
            col = batch.column(c)
            values[:, j], bad = _dense(pa, pc, col)
            for r in np.flatnonzero(bad).tolist():
                reason.setdefault(r, (BAD_DENSE, f"column {layout.dense_names[j]}: {col[r].as_py()!r} is not a number"))
            row_bad = row_bad | bad
        if layout.log_dense:
            values = np.log1p(np.maximum(values, 0.0))
        dense = values.astype(np.float32)
    keys = np.zeros((n, len(layout.sparse_cols)), dtype=np.uint64)
    missing = np.zeros(keys.shape, dtype=bool)
    for j, c in enumerate(layout.sparse_cols):
        data, starts, ends, missing[:, j] = _as_text(pa, pc, batch.column(c))
        keys[:, j] = fnv1a(data, starts, ends) if len(data) else np.uint64(14695981039346656037)
    found = sorted((first + r, rule, detail) for r, (rule, detail) in reason.items())
    keep = ~row_bad
    return Parsed(dense=dense[keep], keys=keys[keep], missing=missing[keep], label=label[keep], bad=found)


def _decoded(pa, col):
    return col.dictionary_decode() if pa.types.is_dictionary(col.type) else col


def _as_text(pa, pc, col) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A column's string form as (utf-8 bytes, starts, ends, missing); null and "" are missing. Binary
    columns are keyed by their raw bytes (valid UTF-8 or not)."""
    col = _decoded(pa, col)
    raw = pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type) or pa.types.is_fixed_size_binary(col.type)
    col = pc.cast(col, pa.large_binary() if raw else pa.large_string())
    null = col.is_null().to_numpy(zero_copy_only=False)
    _, offsets_buf, data_buf = col.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[col.offset : col.offset + len(col) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, dtype=np.uint8)
    starts, ends = offsets[:-1].copy(), offsets[1:].copy()
    ends[null] = starts[null]
    return data, starts, ends, ends == starts


def _label(pa, col) -> tuple[np.ndarray, np.ndarray]:
    """(label float32, ok) of a label column."""
    col = _decoded(pa, col)
    t = col.type
    null = col.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t):
        v = col.cast(pa.float64()).fill_null(-1.0).to_numpy(zero_copy_only=False)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        text = np.asarray(col.fill_null("").to_numpy(zero_copy_only=False), dtype=object)
        v = np.where(text == "1", 1.0, np.where(text == "0", 0.0, -1.0))
    else:
        v = np.full(len(col), -1.0)
    ok = ~null & ((v == 0) | (v == 1))
    return (v == 1).astype(np.float32), ok


def _dense(pa, pc, col) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, missing -> 0; bad) of a dense column."""
    col = _decoded(pa, col)
    t = col.type
    if pa.types.is_null(t):  # every value missing
        return np.zeros(len(col)), np.zeros(len(col), dtype=bool)
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        v = pc.cast(col, pa.float64()).fill_null(float("nan")).to_numpy(zero_copy_only=False).astype(np.float64)
        bad = np.isinf(v)
        return np.where(np.isnan(v) | bad, 0.0, v), bad
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return np.zeros(len(col)), np.ones(len(col), dtype=bool)
    return _dense_text(pa, pc, col)


_SPACE = " \t\n\r\f"
_NUMBER = r"^\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"
_BLANK = r"^\s*$"
_NOT_FINITE = r"^\s*[+-]?(nan|inf|infinity)\s*$"


def _dense_text(pa, pc, col) -> tuple[np.ndarray, np.ndarray]:
    """`_dense` of a text column, as Python's `float(text)` reads each value: null and blank text are missing,
    NaN, infinity and text that is not a number bad. Vectorised for the text whose meaning Arrow and Python agree
    on (RE2's \\s is _SPACE, all blank to Python): ASCII digits, then other decimal numbers (both round them
    correctly; 1e400 is inf to both), blank text, NaN and infinity in any case; what is left (a thousands
    underscore, other Unicode digits or spaces, words) is read value by value."""
    n = len(col)
    v, bad = np.zeros(n), np.zeros(n, dtype=bool)
    valid = col.is_valid().to_numpy(zero_copy_only=False)
    at, text = np.flatnonzero(valid), col.filter(pa.array(valid))
    stages = (
        ("digits", pc.ascii_is_decimal),
        ("number", lambda t: pc.match_substring_regex(t, _NUMBER)),
        ("blank", lambda t: pc.match_substring_regex(t, _BLANK)),
        ("not finite", lambda t: pc.match_substring_regex(t, _NOT_FINITE, ignore_case=True)),
    )
    for kind, test in stages:
        if not len(at):
            break
        hit = test(text).to_numpy(zero_copy_only=False)
        if not hit.any():
            continue
        rows = at[hit]
        if kind in ("digits", "number"):
            numbers = text.filter(pa.array(hit))
            try:
                x = pc.cast(numbers if kind == "digits" else pc.utf8_trim(numbers, characters=_SPACE), pa.float64())
            except pa.ArrowInvalid:  # none known: Python reads them below
                continue
            x = x.to_numpy(zero_copy_only=False)
            bad[rows] = ~np.isfinite(x)
            v[rows] = np.where(bad[rows], 0.0, x)
        elif kind == "not finite":
            bad[rows] = True
        at, text = at[~hit], text.filter(pa.array(~hit))
    for i, value in zip(at.tolist(), text.to_pylist(), strict=True):
        if not value.strip():
            continue
        try:
            x = float(value)
        except ValueError:
            x = float("nan")
        bad[i] = not np.isfinite(x)
        v[i] = 0.0 if bad[i] else x
    return v, bad
