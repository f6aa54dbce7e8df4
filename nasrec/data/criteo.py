"""Criteo raw format (Kaggle train.txt, Terabyte day_N): no header, 40 tab-separated fields.

`label I1..I13 C1..C26`: label 0/1, integer counts (may be empty or negative; dense value
log(max(x, 0) + 1), missing -> 0), 8-hex-digit categoricals (empty = missing). Rows with 14..39 fields
(trailing empty fields stripped) are padded with missing values; fewer than 14 or more than 40 is a bad row.
"""

from __future__ import annotations

from nasrec.data.parsing import Layout
from nasrec.data.spec import CRITEO_CARDINALITIES

DENSE_NAMES = tuple(f"I{i}" for i in range(1, 14))
SPARSE_NAMES = tuple(f"C{i}" for i in range(1, 27))
HASH_CARDINALITIES = CRITEO_CARDINALITIES

LAYOUT = Layout(
    name="criteo",
    delimiter=b"\t",
    n_fields=40,
    min_fields=14,
    label_col=0,
    dense_cols=tuple(range(1, 14)),
    dense_names=DENSE_NAMES,
    sparse_cols=tuple(range(14, 40)),
    sparse_names=SPARSE_NAMES,
    key_kind="hex",
)


def criteo_layout() -> Layout:
    return LAYOUT
