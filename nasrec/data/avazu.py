"""Avazu train.csv: a header and 24 comma-separated columns; `click` is the label.

No dense features: one constant dense feature, 0.0, as the reference feeds (docs/data.md says why that is
harmless). 23 sparse fields including
`id` (kept, as in the paper) and `hour`.
"""

from __future__ import annotations

from pathlib import Path

from nasrec.data.errors import DataError
from nasrec.data.parsing import Layout
from nasrec.data.rawio import read_first_line
from nasrec.data.spec import AVAZU_CARDINALITIES, AVAZU_SPARSE_NAMES

HASH_CARDINALITIES = AVAZU_CARDINALITIES
COLUMNS = ("id", "click", *AVAZU_SPARSE_NAMES[1:])


def avazu_layout(path: str | Path) -> Layout:
    """Check the header, then map the columns by name."""
    header, _ = read_first_line(path)
    if not header:
        raise DataError("empty file (expected the Avazu header)", file=str(path), line=1, rule="header")
    names = header.decode("utf-8", "replace").removeprefix("\ufeff").split(",")
    absent = [c for c in COLUMNS if c not in names]
    if absent:
        raise DataError(
            f"not an Avazu train.csv: header lacks column(s) {', '.join(absent)}", file=str(path), line=1, rule="header"
        )
    return Layout(
        name="avazu",
        delimiter=b",",
        n_fields=len(names),
        label_col=names.index("click"),
        dense_cols=(),
        dense_names=(),
        constant_dense=0.0,
        sparse_cols=tuple(names.index(c) for c in AVAZU_SPARSE_NAMES),
        sparse_names=AVAZU_SPARSE_NAMES,
        key_kind="bytes",
        header=True,
    )
