"""`FeatureSpec`: what a dataset looks like to a model (dense count, sparse fields, table sizes)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nasrec.data.errors import DataError

MISSING_INDEX = 0
"""Sparse index of a missing categorical value, in every field."""


class FeatureSpec(BaseModel):
    """Feature layout of a CTR dataset; a genotype compiles against one of these.

    `cardinalities[i]` is the number of distinct indices field i can take (index 0 = missing).
    `cap` bounds every embedding table (the paper caps tables at 0.5M rows during search); indices
    above it are folded with the reference's rule, see `fold_index`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dense_names: tuple[str, ...]
    sparse_names: tuple[str, ...]
    cardinalities: tuple[int, ...]
    cap: int | None = Field(default=None, ge=2)
    embedding_dim: int = Field(default=16, gt=0)
    label_name: str = "label"

    @model_validator(mode="after")
    def _check(self) -> FeatureSpec:
        if len(self.cardinalities) != len(self.sparse_names):
            raise ValueError(
                f"cardinalities has {len(self.cardinalities)} entries but there are "
                f"{len(self.sparse_names)} sparse fields"
            )
        if not self.sparse_names:
            raise ValueError("a FeatureSpec needs at least one sparse field")
        for name, card in zip(self.sparse_names, self.cardinalities, strict=True):
            if card < 2:
                raise ValueError(f"sparse field {name!r}: cardinality {card} < 2 (index 0 is 'missing')")
        names = list(self.dense_names) + list(self.sparse_names)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"feature names are not unique: {dupes}")
        return self

    @property
    def n_dense(self) -> int:
        return len(self.dense_names)

    @property
    def n_sparse(self) -> int:
        return len(self.sparse_names)

    @property
    def table_rows(self) -> tuple[int, ...]:
        """Embedding rows per field after the cap."""
        if self.cap is None:
            return self.cardinalities
        return tuple(min(c, self.cap) for c in self.cardinalities)

    def with_cap(self, cap: int | None) -> FeatureSpec:
        return self.model_copy(update={"cap": cap})

    def capped(self, cap: int | None) -> FeatureSpec:
        """This spec with `cap` applied on top of its own (data prepared with `--cap` records one): the smaller
        of the two; None adds no cap."""
        caps = [c for c in (self.cap, cap) if c is not None]
        return self.with_cap(min(caps) if caps else None)

    def save(self, path: str | Path) -> None:
        """Write as JSON (prepared data keeps it as `spec.json` beside the arrays)."""
        Path(path).write_text(self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> FeatureSpec:
        return cls.model_validate_json(Path(path).read_text())

    @classmethod
    def synthetic(
        cls, n_dense: int, cardinalities: Sequence[int], embedding_dim: int = 16, cap: int | None = None
    ) -> FeatureSpec:
        """A spec with generated names `I1..`, `C1..` (Criteo's naming)."""
        return cls(
            dense_names=tuple(f"I{i + 1}" for i in range(n_dense)),
            sparse_names=tuple(f"C{i + 1}" for i in range(len(cardinalities))),
            cardinalities=tuple(int(c) for c in cardinalities),
            embedding_dim=embedding_dim,
            cap=cap,
        )


def fold_index(index: int, rows: int) -> int:
    """The reference's index rule applied to a table of `rows` rows: 0 stays 0 (missing), any other
    index i maps to (i - 1) mod (rows - 1) + 1. Identity for indices already in 0..rows-1; a negative index
    (never in prepared data) folds like one past the table, into rows 1..rows-1."""
    if 0 <= index < rows:
        return index
    return (index - 1) % (rows - 1) + 1


# Full table sizes of the paper's three datasets, as published with the reference implementation
# (nasrec/utils/config.py of facebookresearch/NasRec). Row 0 of each table is "missing".
CRITEO_CARDINALITIES = (
    1461,
    584,
    10131227,
    2202609,
    306,
    25,
    12518,
    634,
    4,
    93146,
    5684,
    8351593,
    3195,
    28,
    14993,
    5461307,
    11,
    5653,
    2174,
    5,
    7046548,
    19,
    16,
    286182,
    106,
    142573,
)
AVAZU_CARDINALITIES = (
    10000,
    241,
    8,
    8,
    4738,
    7746,
    27,
    8553,
    560,
    37,
    2686409,
    6729487,
    8252,
    6,
    5,
    2627,
    9,
    10,
    436,
    5,
    69,
    173,
    61,
)
KDD_CARDINALITIES = (26274, 641708, 14848, 22122011, 1188090, 3735797, 2934102, 20004011, 4, 8)

AVAZU_SPARSE_NAMES = (
    "id",
    "hour",
    "C1",
    "banner_pos",
    "site_id",
    "site_domain",
    "site_category",
    "app_id",
    "app_domain",
    "app_category",
    "device_id",
    "device_ip",
    "device_model",
    "device_type",
    "device_conn_type",
    "C14",
    "C15",
    "C16",
    "C17",
    "C18",
    "C19",
    "C20",
    "C21",
)
KDD_DENSE_NAMES = ("Impression", "Depth", "Position")
KDD_SPARSE_NAMES = (
    "DisplayURL",
    "AdID",
    "AdvertiserID",
    "QueryID",
    "KeywordID",
    "TitleID",
    "DescriptionID",
    "UserID",
    "Gender",
    "Age",
)


def preset(name: str, cap: int | None = 500_000) -> FeatureSpec:
    """The paper's dataset shapes: `criteo` (13 + 26), `avazu` (1 constant + 23), `kdd` (3 + 10)."""
    if name == "criteo":
        return FeatureSpec.synthetic(13, CRITEO_CARDINALITIES, cap=cap)
    if name == "avazu":
        return FeatureSpec(
            dense_names=("constant",), sparse_names=AVAZU_SPARSE_NAMES, cardinalities=AVAZU_CARDINALITIES, cap=cap
        )
    if name == "kdd":
        return FeatureSpec(
            dense_names=KDD_DENSE_NAMES, sparse_names=KDD_SPARSE_NAMES, cardinalities=KDD_CARDINALITIES, cap=cap
        )
    raise DataError(f"unknown feature preset {name!r}; known: criteo, avazu, kdd", rule="options")


PRESETS = ("criteo", "avazu", "kdd")
