"""Raw rows -> the arrays a model trained on prepared data takes, encoded exactly as preparation encoded them.

    encoder = RowEncoder.from_prepared("data/criteo")        # or load_sample's folder, or "sample:criteo"
    dense, sparse = encoder.encode(lines)                      # float32 [N, n_dense], int64 [N, n_sparse]
    dense, sparse = encoder.encode([{"I1": "3", "C1": "68fd1e64"}], labelled=False)

Rows are the raw file's own text lines (str or bytes, without its header; `labelled=False` for lines without
the label field) or dicts of column name -> value (text as in the file, or a number; None or absent: missing).
A value the vocabulary does not hold gets index 1 ("other", as preparation gave rare values), a missing one 0;
hash encoding applies its rule. A row preparation would have skipped as bad is a `DataError` naming it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nasrec.data.encoding import HashEncoder
from nasrec.data.errors import DataError
from nasrec.data.inputs import ENCODING_FILE, VOCAB_FILE, InputEncoding, read_encoding
from nasrec.data.parsing import parse_chunk
from nasrec.data.prepared import PreparedData

Row = str | bytes | Mapping[str, Any]
_UNIT = b"\x1f"  # dict rows are joined with the ASCII unit separator, which no value may hold


class RowEncoder:
    """Encodes raw rows as a prepared folder's rows were encoded (`from_prepared`)."""

    def __init__(self, encoding: InputEncoding, vocab: np.ndarray | None, join: Any = None) -> None:
        self.encoding = encoding
        self.layout = dataclasses.replace(encoding.layout(), extra_sparse=join or _no_join(len(encoding.joined)))
        self._hash = HashEncoder(encoding.hash_sizes) if encoding.hash_sizes else None
        self._fields: list[tuple[np.ndarray, np.ndarray]] = []  # per field: sorted keys, their indices
        if vocab is not None:
            sizes = [c - 2 for c in encoding.cardinalities]
            if sum(sizes) != len(vocab):
                raise ValueError(f"{VOCAB_FILE} holds {len(vocab):,} keys, the cardinalities name {sum(sizes):,}")
            start = 0
            for n in sizes:
                keys = np.asarray(vocab[start : start + n], dtype=np.uint64)
                order = np.argsort(keys, kind="stable")
                self._fields.append((keys[order], order.astype(np.int64) + 2))
                start += n
        names = {encoding.label_col: encoding.label}
        names.update(zip(encoding.dense_cols, encoding.dense, strict=True))
        names.update(zip(encoding.sparse_cols, encoding.sparse, strict=True))
        self._columns = names  # raw column -> name, for the columns a row's dict may give

    @classmethod
    def from_prepared(cls, folder: str | Path | PreparedData, kdd_profile: str | Path | None = None) -> RowEncoder:
        """The encoder of a prepared folder (a path, `sample:NAME` or a `PreparedData`). KDD data prepared with
        a user profile needs that file again (`kdd_profile`) to join Gender and Age."""
        data = _open(folder)
        where = str(data.path)
        try:
            encoding = read_encoding(data.path) if data.path is not None else None
        except OSError as exc:
            raise DataError(f"{ENCODING_FILE} cannot be read ({exc})", file=where, rule="encoding") from None
        if encoding is None:
            if data.path is None or data.meta.format not in ("criteo", "avazu", "kdd", "csv", "parquet"):
                raise DataError(
                    f"{data.meta.format} data not prepared from raw rows: there is no encoding to apply",
                    file=data.where,
                    rule="encoding",
                )
            raise DataError(
                "prepared before nasrec kept its vocabulary: prepare the data again (into a new --out, or remove "
                "this folder first)",
                file=where,
                rule="encoding",
            )
        join = None
        if encoding.profile_digest is not None:
            if kdd_profile is None:
                raise DataError(
                    "prepared with a KDD user profile: give it again (kdd_profile=) to join Gender and Age",
                    file=where,
                    rule="encoding",
                )
            from nasrec.data.kdd import load_profile
            from nasrec.data.rawio import file_digest

            if file_digest(Path(kdd_profile)) != encoding.profile_digest:
                raise DataError(
                    "not the user profile the data was prepared with", file=str(kdd_profile), rule="encoding"
                )
            join = load_profile(kdd_profile)
        vocab = None
        if encoding.encoding == "vocab":
            try:
                vocab = np.load(data.path / VOCAB_FILE, mmap_mode="r", allow_pickle=False)  # type: ignore[operator]
                return cls(encoding, vocab, join)
            except (OSError, ValueError) as exc:
                why = f"{VOCAB_FILE}: {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else exc
                raise DataError(
                    f"damaged prepared data ({why}); remove this folder and prepare the data again",
                    file=where,
                    rule="encoding",
                ) from None
        return cls(encoding, vocab, join)

    @property
    def dense_names(self) -> list[str]:
        return self.encoding.dense_features

    @property
    def sparse_names(self) -> list[str]:
        return self.encoding.sparse_features

    def encode(self, rows: Iterable[Row], *, labelled: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(dense float32 [N, n_dense], sparse int64 [N, n_sparse]) of raw `rows` (all lines or all dicts).
        `labelled`: lines hold the label field, as in the prepared file (dicts never need it)."""
        rows = list(rows)
        if not rows:
            return np.zeros((0, len(self.dense_names)), np.float32), np.zeros((0, len(self.sparse_names)), np.int64)
        if all(isinstance(r, Mapping) for r in rows):
            layout = dataclasses.replace(self.layout, delimiter=_UNIT)
            lines = [self._dict_line(i, r) for i, r in enumerate(rows, 1)]  # type: ignore[arg-type]
        elif any(isinstance(r, Mapping) for r in rows):
            raise DataError("rows are either all text lines or all dicts, not both", rule="rows")
        elif self.encoding.format == "parquet":
            raise DataError("Parquet data has no text lines: give each row as a dict of column -> value", rule="rows")
        else:
            layout = self.layout
            lines = [self._line(i, r, labelled) for i, r in enumerate(rows, 1)]  # type: ignore[arg-type]
        parsed = parse_chunk(b"\n".join(lines) + b"\n", 1, layout)
        if parsed.bad:
            line, _, detail = parsed.bad[0]
            raise DataError(f"row {line}: {detail}", rule="rows")
        return parsed.dense, self._encode_keys(parsed.keys, parsed.missing)

    def _encode_keys(self, keys: np.ndarray, missing: np.ndarray) -> np.ndarray:
        if self._hash is not None:
            return self._hash.encode(keys, missing)
        out = np.ones(keys.shape, dtype=np.int64)
        for f, (held, index) in enumerate(self._fields):
            if len(held):
                pos = np.minimum(np.searchsorted(held, keys[:, f]), len(held) - 1)
                hit = held[pos] == keys[:, f]
                out[hit, f] = index[pos[hit]]
        out[missing] = 0
        return out

    def _line(self, number: int, row: str | bytes, labelled: bool) -> bytes:
        raw = row.encode() if isinstance(row, str) else bytes(row)
        raw = raw.removesuffix(b"\n").removesuffix(b"\r")
        if b"\n" in raw or not raw.strip():
            what = "several lines" if raw.strip() else "an empty line"
            raise DataError(f"row {number}: {what}, expected one row", rule="rows")
        if labelled:
            return raw
        cells = raw.split(self.layout.delimiter, self.encoding.label_col)
        return self.layout.delimiter.join([*cells[: self.encoding.label_col], b"0", *cells[self.encoding.label_col :]])

    def _dict_line(self, number: int, row: Mapping[str, Any]) -> bytes:
        known = set(self._columns.values())
        unknown = [k for k in row if k not in known]
        if unknown:
            raise DataError(
                f"row {number}: no column {unknown[0]!r} (known: {', '.join(self.dense_names + self.encoding.sparse)})",
                rule="rows",
            )
        cells = [b""] * self.encoding.n_fields
        for col, name in self._columns.items():
            value = "0" if col == self.encoding.label_col else row.get(name)
            text = _text(value, dense=name in self.encoding.dense, parquet=self.encoding.format == "parquet")
            if any(c in text for c in (_UNIT, b"\n", b"\r")):
                raise DataError(f"row {number}: column {name}: a value may not hold a line break or \\x1f", rule="rows")
            cells[col] = text
        return _UNIT.join(cells)


def _text(value: Any, dense: bool, parquet: bool) -> bytes:
    """A dict row's value as the file's text: None missing; bytes as given; numbers with `str` (a Parquet
    float NaN is missing there, a bool 0/1 as a dense value, true/false as a sparse one)."""
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if parquet and isinstance(value, bool):
        return (b"1" if value else b"0") if dense else (b"true" if value else b"false")
    if parquet and isinstance(value, float) and math.isnan(value):
        return b""
    return str(value).encode()


def _no_join(n: int) -> Any:
    def join(keys: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((len(keys), n), dtype=np.uint64), np.ones((len(keys), n), dtype=bool)

    return join if n else None


def _open(folder: str | Path | PreparedData) -> PreparedData:
    if isinstance(folder, PreparedData):
        return folder
    if isinstance(folder, str) and folder.startswith("sample:"):
        from nasrec.data.samples import load_sample

        return load_sample(folder.removeprefix("sample:"))
    return PreparedData.open(folder)
