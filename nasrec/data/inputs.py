"""The input contract a prepared folder keeps: how a raw row became its arrays, so a new row is encoded alike.

encoding.json   `InputEncoding`: the raw layout (delimiter, columns), the dense transform, the encoding and
                its parameters (hash sizes; min_count)
vocab.npy       uint64 [kept values of all fields], vocab only: each field's kept keys in index order, field
                after field (field f's i-th key has index 2 + i; field f holds cardinality - 2 keys)

A value's key is its number for Criteo's hex and KDD's decimal ids, else the FNV-1a hash of its text
(`nasrec.data.parsing.cell_keys`), exactly as preparation keyed it. `summary()` is the short form that saved
weights and exported models record.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ValidationError

from nasrec.data.errors import DataError
from nasrec.data.parsing import Layout
from nasrec.state.jsonl import validation_reason

if TYPE_CHECKING:
    from nasrec.data.prepared import PreparedData

ENCODING_FILE, VOCAB_FILE = "encoding.json", "vocab.npy"
ENCODING_VERSION = 1
"""Part of the cache key since preparation keeps the encoding (a folder prepared before lacks encoding.json)."""
TRANSFORMS = {
    "log1p": "log(max(x, 0) + 1), missing 0",
    "none": "x as given, missing 0",
    "constant": "no dense features: one constant, {value}",
}


class InputEncoding(BaseModel):
    """How raw rows were parsed and encoded into a prepared folder; saved as encoding.json."""

    version: int = ENCODING_VERSION
    format: str
    delimiter: str
    n_fields: int
    min_fields: int | None = None
    header: bool
    label: str
    label_col: int
    label_rule: Literal["binary", "count"]
    dense: list[str]
    dense_cols: list[int]
    dense_transform: Literal["log1p", "none", "constant"]
    constant_dense: float | None = None
    blank_missing: bool = False
    reject_quotes: bool = False
    sparse: list[str]
    sparse_cols: list[int]
    key_kind: Literal["hex", "int", "bytes"]
    joined: list[str] = []
    """Sparse fields joined from another file (KDD's Gender, Age from the user profile), after `sparse`."""
    profile_digest: str | None = None
    encoding: Literal["vocab", "hash"]
    min_count: int | None = None
    hash_sizes: list[int] | None = None
    cardinalities: list[int]

    @classmethod
    def of(
        cls,
        layout: Layout,
        format: str,
        label: str,
        cardinalities: tuple[int, ...],
        min_count: int | None,
        hash_sizes: tuple[int, ...] | None,
        profile_digest: str | None = None,
    ) -> InputEncoding:
        transform = "constant" if layout.constant_dense is not None else "log1p" if layout.log_dense else "none"
        return cls(
            format=format,
            delimiter=layout.delimiter.decode("latin-1"),
            n_fields=layout.n_fields,
            min_fields=layout.min_fields,
            header=layout.header,
            label=label,
            label_col=layout.label_col,
            label_rule=layout.label_rule,
            dense=list(layout.dense_names),
            dense_cols=list(layout.dense_cols),
            dense_transform=transform,
            constant_dense=layout.constant_dense,
            blank_missing=layout.blank_missing,
            reject_quotes=layout.reject_quotes,
            sparse=list(layout.sparse_names),
            sparse_cols=list(layout.sparse_cols),
            key_kind=layout.key_kind,
            joined=list(layout.extra_names),
            profile_digest=profile_digest,
            encoding="hash" if hash_sizes else "vocab",
            min_count=None if hash_sizes else min_count,
            hash_sizes=list(hash_sizes) if hash_sizes else None,
            cardinalities=list(cardinalities),
        )

    def layout(self, delimiter: bytes | None = None) -> Layout:
        """The raw layout (without a join: the caller adds one), optionally with another delimiter."""
        return Layout(
            name=self.format,
            delimiter=delimiter or self.delimiter.encode("latin-1"),
            n_fields=self.n_fields,
            min_fields=self.min_fields,
            label_col=self.label_col,
            label_rule=self.label_rule,
            dense_cols=tuple(self.dense_cols),
            dense_names=tuple(self.dense),
            sparse_cols=tuple(self.sparse_cols),
            sparse_names=tuple(self.sparse),
            key_kind=self.key_kind,
            constant_dense=self.constant_dense,
            header=self.header,
            log_dense=self.dense_transform == "log1p",
            reject_quotes=self.reject_quotes,
            blank_missing=self.blank_missing,
            extra_names=tuple(self.joined),
        )

    @property
    def dense_features(self) -> list[str]:
        return ["constant"] if self.dense_transform == "constant" else list(self.dense)

    @property
    def sparse_features(self) -> list[str]:
        return [*self.sparse, *self.joined]

    def transform_text(self) -> str:
        return TRANSFORMS[self.dense_transform].format(value=self.constant_dense)

    def summary(self) -> dict[str, Any]:
        """The input contract in JSON types: feature order, dtypes, dense transform, encoding."""
        out: dict[str, Any] = {
            "format": self.format,
            "dense": self.dense_features,
            "sparse": self.sparse_features,
            "dense_dtype": "float32",
            "sparse_dtype": "int64",
            "dense_transform": self.transform_text(),
            "encoding": self.encoding,
            "missing_index": 0,
        }
        if self.encoding == "vocab":
            out.update(min_count=self.min_count, other_index=1)
        else:
            out.update(hash_sizes=self.hash_sizes, hash_rule="key mod (hash size - 1) + 1")
        return out


def write_vocab(folder: Path, keys: list[np.ndarray]) -> None:
    """Each field's kept keys (index order), field after field, as `VOCAB_FILE`."""
    np.save(folder / VOCAB_FILE, np.concatenate(keys).astype(np.uint64) if keys else np.zeros(0, np.uint64))


def read_encoding(folder: Path) -> InputEncoding | None:
    """A prepared folder's encoding.json; None where it has none (prepared before it was kept, or made in
    memory)."""
    path = Path(folder) / ENCODING_FILE
    if not path.is_file():
        return None
    try:
        return InputEncoding.model_validate_json(path.read_text())
    except ValidationError as exc:
        more = f" and {exc.error_count() - 1} more" if exc.error_count() > 1 else ""
        raise DataError(
            f"{ENCODING_FILE} is damaged ({validation_reason(exc)}{more}): prepare the data "
            "again (into a new --out, or remove this folder first)",
            file=str(folder),
            rule="encoding",
        ) from None


def input_contract(data: PreparedData, ref: str | None = None) -> dict[str, Any] | None:
    """What a model trained on `data` expects of its inputs (`InputEncoding.summary`), with where the
    vocabulary lies (`data`: `ref`, e.g. `sample:criteo`, else the folder) and the folder's key; None for data
    without an encoding (prepared before nasrec kept it, or made in memory). A folder is recorded as an absolute
    path, so that the file it goes into serves from any directory."""
    if data.path is None:
        return None
    try:
        encoding = read_encoding(data.path)
    except (OSError, ValueError):
        return None
    if encoding is None:
        return None
    where = ref if ref is not None and ref.startswith("sample:") else str(Path(data.path).resolve())
    return {**encoding.summary(), "data": where, "key": data.meta.key}
