"""`prepare()`'s options: the formats, the defaults, and the checks that refuse a bad combination (or a missing,
empty or repeated input file) before any work, each a `DataError` naming the parameter and its flag."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nasrec.data.errors import ON_BAD_ROWS, DataError

FORMATS = ("criteo", "avazu", "kdd", "csv", "parquet")
MIN_COUNT, DELIMITER = 2, ","
"""`prepare`'s defaults: a vocabulary keeps values seen at least twice; a CSV's fields are comma-separated."""
FIXED_SEPARATORS = {
    "criteo": "Criteo files are tab-separated",
    "avazu": "Avazu files are comma-separated",
    "kdd": "KDD files are tab-separated",
    "parquet": "Parquet files have no delimiter",
}
"""Why a delimiter means nothing for each format other than csv."""


def check_options(
    format: str,
    *,
    label: str | None,
    dense: Sequence[str],
    sparse: Sequence[str],
    delimiter: str | None,
    kdd_profile: str | Path | None,
    encoding: str,
    min_count: int | None,
    hash_sizes: int | Sequence[int] | None,
    cap: int | None,
    embedding_dim: int,
    on_bad_rows: str,
) -> None:
    """`prepare`'s options, each checked alone and against the others (None: left out, the default)."""
    if format not in FORMATS:
        raise DataError(f"unknown format {format!r}; known: {', '.join(FORMATS)}", rule="options")
    if on_bad_rows not in ON_BAD_ROWS:
        raise DataError(f"on_bad_rows must be skip or error, got {on_bad_rows!r}", rule="options")
    if encoding not in ("vocab", "hash"):
        raise DataError(f"encoding must be vocab or hash, got {encoding!r}", rule="options")
    if min_count is not None and encoding == "hash":
        raise DataError(
            "min_count (--min-count) applies only to vocab encoding (hash encoding hashes every value)", rule="options"
        )
    if delimiter is not None and format in FIXED_SEPARATORS:
        raise DataError(f"delimiter (--delimiter) applies only to csv ({FIXED_SEPARATORS[format]})", rule="options")
    if min_count is not None and min_count < 1:
        raise DataError(f"min_count must be >= 1, got {min_count}", rule="options")
    if cap is not None and cap < 2:  # checked before the work: the spec written at the end would refuse it
        raise DataError(f"cap must be at least 2 (rows per table), got {cap}", rule="options")
    if embedding_dim < 1:
        raise DataError(f"embedding_dim must be at least 1, got {embedding_dim}", rule="options")
    if format in ("criteo", "avazu", "kdd") and (label is not None or dense or sparse):
        raise DataError(
            f"{format} files have fixed columns; label, dense and sparse column names (--label, --dense, --sparse) "
            "are for csv and parquet",
            rule="options",
        )
    if kdd_profile is not None and format != "kdd":
        raise DataError(f"a KDD user profile (--kdd-profile) goes with format kdd, not {format}", rule="options")
    if hash_sizes is not None and encoding != "hash":
        raise DataError("hash sizes (--hash-size) need encoding hash (--encoding hash)", rule="options")


def check_sources(format: str, sources: Sequence[Path]) -> None:
    """One file (several for parquet), each an existing, non-empty file, none given twice (by path or link)."""
    if not sources or (len(sources) > 1 and format != "parquet"):
        raise DataError(f"{format} takes one file, got {len(sources)}", rule="options")
    seen: dict[tuple[int, int], Path] = {}
    for path in sources:
        if not path.is_file():
            raise DataError("a folder, not a file" if path.is_dir() else "no such file", file=str(path), rule="file")
        stat = path.stat()
        if stat.st_size == 0:
            raise DataError("empty file", file=str(path), line=1, rule="empty")
        first = seen.setdefault((stat.st_dev, stat.st_ino), path)
        if first is not path:
            again = "" if str(first) == str(path) else f" (as {first})"
            raise DataError(f"given more than once{again}; give each file once", file=str(path), rule="options")
