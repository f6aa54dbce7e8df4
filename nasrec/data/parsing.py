"""Vectorised parsing of delimited text: a chunk of whole lines -> dense, categorical keys and labels.

No per-row Python work on the fast path: field boundaries, integers, hex values and string hashes are
computed with numpy over the chunk's bytes (text cells over 4 KiB, and a chunk's few long cells of one length
class, are hashed byte by byte in Python). Cells that are not plain integers (e.g. `2.5`, `1e3`) fall back
to a bulk numpy float conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from nasrec.data.errors import BAD_DENSE, BAD_FIELD_COUNT, BAD_LABEL, BAD_QUOTE

FNV_OFFSET = np.uint64(14695981039346656037)
FNV_PRIME = np.uint64(1099511628211)
_HEX = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i
_POW10 = 10 ** np.arange(19, dtype=np.int64)

ExtraSparse = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Layout:
    """Where label, dense and sparse values sit in one line of a raw format."""

    name: str
    delimiter: bytes
    n_fields: int
    label_col: int
    dense_cols: tuple[int, ...]
    dense_names: tuple[str, ...]
    sparse_cols: tuple[int, ...]
    sparse_names: tuple[str, ...]
    min_fields: int | None = None
    """Rows with min_fields..n_fields-1 fields are padded with missing values (trailing empties stripped)."""
    label_rule: Literal["binary", "count"] = "binary"
    key_kind: Literal["hex", "int", "bytes"] = "bytes"
    constant_dense: float | None = None
    header: bool = False
    log_dense: bool = True
    reject_quotes: bool = False
    blank_missing: bool = False
    """A blank dense cell (spaces, tabs) is missing, as in Parquet's text columns, not a bad row."""
    extra_sparse: ExtraSparse | None = field(default=None, compare=False)
    """(keys, missing) of the parsed sparse columns -> extra (keys, missing) columns (e.g. a profile join)."""
    extra_names: tuple[str, ...] = ()

    @property
    def all_sparse_names(self) -> tuple[str, ...]:
        return self.sparse_names + self.extra_names

    @property
    def all_dense_names(self) -> tuple[str, ...]:
        return ("constant",) if self.constant_dense is not None else self.dense_names


@dataclass
class Parsed:
    dense: np.ndarray  # float32 [n, n_dense], transformed
    keys: np.ndarray  # uint64 [n, n_sparse]
    missing: np.ndarray  # bool [n, n_sparse]
    label: np.ndarray  # float32 [n]
    bad: list[tuple[int, str, str]]  # (line, rule, detail), by line


def _windows(
    b: np.ndarray, starts: np.ndarray, ends: np.ndarray, cap: int, right: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gather each cell's bytes into a [cells, width] matrix with one numpy gather.

    Left-aligned (cell starts at column 0) or right-aligned (cell ends at the last column). Returns
    (bytes matrix, active mask, lengths); width = min(longest cell, cap), at least 1."""
    lens = (ends - starts).ravel()
    width = max(int(min(lens.max(initial=0), cap)), 1)
    padded = np.concatenate([np.zeros(width, dtype=np.uint8), b, np.zeros(width, dtype=np.uint8)])
    view = np.lib.stride_tricks.as_strided(padded, shape=(len(b) + width + 1, width), strides=(1, 1))
    cols = np.arange(width)[None, :]
    if right:
        mat = view[ends.ravel()]
        active = cols >= width - lens[:, None]
    else:
        mat = view[starts.ravel() + width]
        active = cols < lens[:, None]
    return mat, active, lens


def parse_ints(b: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decimal integers (optional '-', up to 18 digits) in cells [starts, ends) of b: (values, ok)."""
    lens = (ends - starts).ravel()
    neg = (lens > 0) & (b[np.minimum(starts.ravel(), len(b) - 1)] == 45)
    mat, active, _ = _windows(b, starts + neg.reshape(starts.shape), ends, 18, right=True)
    digits = mat - np.uint8(48)
    isdig = digits <= 9
    n = lens - neg
    ok = (n > 0) & (n <= 18) & (isdig | ~active).all(axis=1)
    digits = np.where(active & isdig, digits, np.uint8(0)).astype(np.int64)
    val = digits @ _POW10[: mat.shape[1]][::-1]
    val = np.where(neg, -val, val)
    return val.reshape(starts.shape), ok.reshape(starts.shape)


def parse_hex(b: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hex values of up to 16 digits: (uint64 values, ok)."""
    mat, active, lens = _windows(b, starts, ends, 16, right=True)
    nib = _HEX[mat]
    ok = (lens > 0) & (lens <= 16) & ((nib != 255) | ~active).all(axis=1)
    nib = np.where(active, nib, np.uint8(0))
    width = 8 if mat.shape[1] <= 8 else 16
    full = np.zeros((len(mat), width), dtype=np.uint8)
    full[:, width - mat.shape[1] :] = nib
    packed = np.ascontiguousarray((full[:, 0::2] << np.uint8(4)) | full[:, 1::2])
    val = packed.view(">u4" if width == 8 else ">u8").ravel().astype(np.uint64)
    return val.reshape(starts.shape), ok.reshape(starts.shape)


_HASH_CAP = 1 << 20  # bytes of a cell that are hashed
_WIDE = 64  # cells up to this long share one matrix; longer ones are grouped by length (below)
_LONGEST_GROUPED = 4096  # longer cells are hashed one by one (a matrix column per byte would cost more)
_GROUP_MIN = 16  # fewer cells of a length class than this are hashed one by one too


def _fnv1a_matrix(b: np.ndarray, starts: np.ndarray, ends: np.ndarray, cap: int) -> np.ndarray:
    """FNV-1a of cells of at most `cap` bytes, hashed together a byte column at a time."""
    mat, active, _ = _windows(b, starts, ends, cap)
    h = np.full(len(mat), FNV_OFFSET, dtype=np.uint64)
    for p in range(mat.shape[1]):
        h = np.where(active[:, p], (h ^ mat[:, p].astype(np.uint64)) * FNV_PRIME, h)
    return h


def fnv1a(b: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """64-bit FNV-1a hash of each cell's bytes (its first MiB; stable across runs and machines). Cells up to
    `_WIDE` bytes are hashed together, a byte column at a time; longer ones in groups of lengths within a
    factor of two (a column of URLs or user agents), and the rare very long or lonely ones alone, so the cost
    follows the bytes, not the longest cell times the number of cells."""
    flat_s, flat_e = starts.ravel(), ends.ravel()
    lens = flat_e - flat_s
    h = np.empty(len(flat_s), dtype=np.uint64)
    narrow = np.flatnonzero(lens <= _WIDE)
    h[narrow] = _fnv1a_matrix(b, flat_s[narrow], flat_e[narrow], _WIDE)
    alone: list[int] = np.flatnonzero(lens > _LONGEST_GROUPED).tolist()
    width = _WIDE
    while width < _LONGEST_GROUPED:
        group = np.flatnonzero((lens > width) & (lens <= 2 * width))
        if len(group) >= _GROUP_MIN:
            h[group] = _fnv1a_matrix(b, flat_s[group], flat_e[group], 2 * width)
        else:
            alone.extend(group.tolist())
        width *= 2
    for i in alone:
        h[i] = _fnv1a_bytes(b[flat_s[i] : min(flat_e[i], flat_s[i] + _HASH_CAP)].tobytes())
    return h.reshape(starts.shape)


def _fnv1a_bytes(data: bytes) -> np.uint64:
    h, prime = int(FNV_OFFSET), int(FNV_PRIME)
    for byte in data:
        h = ((h ^ byte) * prime) & 0xFFFFFFFFFFFFFFFF
    return np.uint64(h)


def _cell(buf: bytes, s: int, e: int) -> str:
    return buf[s:e].decode("utf-8", "replace")


def cell_keys(b: np.ndarray, starts: np.ndarray, ends: np.ndarray, kind: str) -> np.ndarray:
    """A uint64 key per cell: the value itself for hex/int kinds when it parses, else its FNV-1a hash."""
    if kind == "hex":
        keys, ok = parse_hex(b, starts, ends)
    elif kind == "int":
        vals, ok = parse_ints(b, starts, ends)
        keys = vals.view(np.uint64)
    else:
        return fnv1a(b, starts, ends)
    if not ok.all():
        bad = ~ok
        keys = keys.copy()
        keys[bad] = fnv1a(b, starts[bad], ends[bad])
    return keys


def _dense_values(
    buf: bytes, b: np.ndarray, starts: np.ndarray, ends: np.ndarray, blank_missing: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """float64 values (missing -> 0: empty cells, and blank ones with `blank_missing`) and a per-cell 'not a
    number' flag."""
    vals, ok = parse_ints(b, starts, ends)
    out = vals.astype(np.float64)
    empty = ends == starts
    out[empty] = 0.0
    bad = np.zeros(starts.shape, dtype=bool)
    slow = ~ok & ~empty
    if slow.any():
        idx = np.flatnonzero(slow.ravel())
        s, e = starts.ravel()[idx], ends.ravel()[idx]
        texts = [buf[i:j] for i, j in zip(s.tolist(), e.tolist(), strict=True)]
        try:
            conv = np.array(texts).astype(np.float64)
            finite = np.isfinite(conv)
        except ValueError:
            conv = np.zeros(len(texts))
            finite = np.zeros(len(texts), dtype=bool)
            for k, t in enumerate(texts):
                try:
                    conv[k] = float(t)
                    finite[k] = np.isfinite(conv[k])
                except ValueError:
                    finite[k] = blank_missing and not t.strip()
        flat_out, flat_bad = out.ravel(), bad.ravel()
        flat_out[idx] = np.where(finite, conv, 0.0)
        flat_bad[idx] = ~finite
    return out, bad


def parse_chunk(buf: bytes, first_line: int, layout: Layout) -> Parsed:
    """Parse whole lines (each ending in b"\\n"); empty lines are ignored."""
    b = np.frombuffer(buf, dtype=np.uint8)
    d = layout.delimiter[0]
    nl = np.flatnonzero(b == 10)
    line_start = np.empty_like(nl)
    line_start[:1] = 0
    line_start[1:] = nl[:-1] + 1
    line_end = nl.copy()
    cr = (line_end > line_start) & (b[np.maximum(line_end - 1, 0)] == 13)
    line_end[cr] -= 1
    nonempty = line_end > line_start
    seps = np.flatnonzero((b == d) | (b == 10))
    nf = np.diff(np.searchsorted(seps, nl, side="right"), prepend=0)  # separators per line incl. "\n"
    n_fields = layout.n_fields
    lo = layout.min_fields or n_fields
    good = nonempty & (nf >= lo) & (nf <= n_fields)
    bad: list[tuple[int, str, str]] = []
    expected = str(n_fields) if lo == n_fields else f"{lo} to {n_fields}"
    for i in np.flatnonzero(nonempty & ~good).tolist():
        bad.append((first_line + i, BAD_FIELD_COUNT, f"{int(nf[i])} fields, expected {expected}"))
    if layout.reject_quotes and b'"' in buf:  # only a field that starts with a quote can hide a delimiter
        q = np.flatnonzero(b == 34)
        before = b[np.maximum(q - 1, 0)]
        q = q[(q == 0) | (before == d) | (before == 10)]
        quoted = np.zeros(len(nl), dtype=bool)
        quoted[np.searchsorted(nl, q)] = True
        for i in np.flatnonzero(quoted & good).tolist():
            bad.append((first_line + i, BAD_QUOTE, "quoted CSV fields are not supported"))
        good &= ~quoted

    rows = np.flatnonzero(good)
    if len(rows) == len(nl) and (nf == n_fields).all():  # fast path: every line complete
        ends = seps.reshape(len(nl), n_fields)
        ends[:, -1] = line_end
        starts = np.empty_like(ends)
        starts[:, 0] = line_start
        starts[:, 1:] = ends[:, :-1] + 1
    else:
        off = (np.cumsum(nf) - nf)[rows][:, None]
        nfg = nf[rows][:, None]
        j = np.arange(n_fields)[None, :]
        ends = seps[off + np.minimum(j, nfg - 1)]
        ends = np.where(j >= nfg - 1, line_end[rows][:, None], ends)
        # clipped to the row's own separators: a short last row of the buffer would index past them
        starts = np.where(j == 0, line_start[rows][:, None], seps[off + np.clip(j - 1, 0, nfg - 1)] + 1)
        starts = np.where(j >= nfg, ends, starts)

    row_bad = np.zeros(len(rows), dtype=bool)
    reason: dict[int, tuple[str, str]] = {}
    ls, le = starts[:, layout.label_col], ends[:, layout.label_col]
    if layout.label_rule == "binary":
        first = b[ls]
        label_ok = (le - ls == 1) & ((first == 48) | (first == 49))
        label = (first == 49).astype(np.float32)
    else:
        counts, label_ok = parse_ints(b, ls, le)
        label_ok &= counts >= 0
        label = (counts > 0).astype(np.float32)
    for r in np.flatnonzero(~label_ok).tolist():
        reason[r] = (
            BAD_LABEL,
            f"label {_cell(buf, ls[r], le[r])!r} is not "
            + ("0 or 1" if layout.label_rule == "binary" else "a click count"),
        )
    row_bad |= ~label_ok

    if layout.constant_dense is not None:
        dense = np.full((len(rows), 1), layout.constant_dense, dtype=np.float32)
    else:
        cols = list(layout.dense_cols)
        ds, de = starts[:, cols], ends[:, cols]
        values, dbad = _dense_values(buf, b, ds, de, layout.blank_missing)
        for r, c in zip(*np.nonzero(dbad), strict=True):
            if r not in reason:
                reason[int(r)] = (
                    BAD_DENSE,
                    f"column {layout.dense_names[c]}: {_cell(buf, ds[r, c], de[r, c])!r} is not a number",
                )
        row_bad |= dbad.any(axis=1)
        if layout.log_dense:
            values = np.log1p(np.maximum(values, 0.0))
        dense = values.astype(np.float32)
    for r, (rule, detail) in reason.items():
        bad.append((first_line + int(rows[r]), rule, detail))
    bad.sort()

    cols = list(layout.sparse_cols)
    ss, se = starts[:, cols], ends[:, cols]
    missing = se == ss
    keys = cell_keys(b, ss, se, layout.key_kind)
    keep = ~row_bad
    keys, missing = keys[keep], missing[keep]
    if layout.extra_sparse is not None:
        ek, em = layout.extra_sparse(keys, missing)
        keys, missing = np.concatenate([keys, ek], axis=1), np.concatenate([missing, em], axis=1)
    return Parsed(dense=dense[keep], keys=keys, missing=missing, label=label[keep], bad=bad)
