"""Search spaces: which operators, dims, mergers and connections a genotype may use; presets; cardinality."""

from __future__ import annotations

import itertools
from math import comb
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from nasrec.genotype.errors import GenotypeError, from_validation_error
from nasrec.genotype.operators import get_signature
from nasrec.genotype.schema import MAX_BLOCKS, MAX_DIM, Genotype, parse_json
from nasrec.registry import UnknownNameError

Merger = Literal["dense_to_sparse", "sparse_to_dense"]
MERGERS: tuple[Merger, ...] = ("dense_to_sparse", "sparse_to_dense")
_PosInt = Annotated[StrictInt, Field(gt=0)]
_Dim = Annotated[StrictInt, Field(gt=0, le=MAX_DIM)]


class SearchSpace(BaseModel):
    """The set of choices a genotype may take. `max_inputs` bounds the dense and sparse source lists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    num_blocks: Annotated[StrictInt, Field(gt=0, le=MAX_BLOCKS)]
    dense_ops: Annotated[tuple[str, ...], Field(min_length=1)]
    sparse_ops: Annotated[tuple[str, ...], Field(min_length=1)]
    dense_dims: Annotated[tuple[_Dim, ...], Field(min_length=1)]
    sparse_dims: Annotated[tuple[_Dim, ...], Field(min_length=1)]
    mergers: tuple[Merger, ...] = MERGERS
    max_inputs: _PosInt | None = None

    @model_validator(mode="after")
    def _ops_exist(self) -> SearchSpace:
        for branch in ("dense", "sparse"):
            ops = getattr(self, f"{branch}_ops")
            for i, op in enumerate(ops):
                try:
                    sig = get_signature(op)
                except UnknownNameError as exc:
                    raise GenotypeError(str(exc), f"{branch}_ops[{i}]") from None
                if sig.branch != branch:
                    raise GenotypeError(f"{op!r} is a {sig.branch} operator", f"{branch}_ops[{i}]")
                if op in ops[:i]:
                    raise GenotypeError(f"{op!r} is listed twice", f"{branch}_ops[{i}]")
        for field in ("dense_dims", "sparse_dims", "mergers"):  # a duplicate would bias sampling and the count
            values = getattr(self, field)
            for i, value in enumerate(values):
                if value in values[:i]:
                    raise GenotypeError(f"{value!r} is listed twice", f"{field}[{i}]")
        return self

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: object) -> SearchSpace:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise from_validation_error(exc) from None

    @classmethod
    def load(cls, path: str | Path) -> SearchSpace:
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise GenotypeError(f"cannot read search space file {path}: {exc.strerror or exc}") from None
        try:
            return cls.from_dict(parse_json(text))
        except GenotypeError as exc:
            raise GenotypeError(f"search space file {path}: {exc}") from None

    # -- membership ------------------------------------------------------------------------------
    def max_sources(self, k: int) -> int:
        """How many sources block k (1-based) may list in its dense or sparse input."""
        return k if self.max_inputs is None else min(k, self.max_inputs)

    def check(self, genotype: Genotype) -> Genotype:
        """Raise `GenotypeError` unless every choice of `genotype` belongs to this space; return it."""
        if genotype.num_blocks != self.num_blocks:
            raise GenotypeError(
                f"has {genotype.num_blocks} blocks, space {self.name!r} has {self.num_blocks}", "blocks"
            )
        for k, raw in enumerate(genotype.blocks, start=1):
            block, at = raw.canonical(), f"blocks[{k - 1}]"
            for branch in ("dense", "sparse"):
                choice, allowed = getattr(block, branch), getattr(self, f"{branch}_ops")
                for i, op in enumerate(getattr(raw, branch).ops):  # the document's order: the path it names
                    if op not in allowed:
                        raise GenotypeError(
                            f"{op!r} is not in space {self.name!r} ({', '.join(allowed)})", f"{at}.{branch}.ops[{i}]"
                        )
                dims = getattr(self, f"{branch}_dims")
                if choice.dim not in dims:
                    raise GenotypeError(
                        f"{choice.dim} is not a {branch} dim of space {self.name!r} {list(dims)}", f"{at}.{branch}.dim"
                    )
            for merger in MERGERS:
                if getattr(block, merger) and merger not in self.mergers:
                    raise GenotypeError(f"merger not searchable in space {self.name!r}", f"{at}.{merger}")
            for field in ("dense", "sparse"):
                sources = getattr(block.inputs, field) or ()
                if len(sources) > self.max_sources(k):
                    raise GenotypeError(
                        f"{len(sources)} sources, space {self.name!r} allows at most {self.max_inputs}",
                        f"{at}.inputs.{field}",
                    )
        return genotype

    def contains(self, genotype: Genotype) -> bool:
        try:
            self.check(genotype)
        except GenotypeError:
            return False
        return True

    # -- counting --------------------------------------------------------------------------------
    def cardinality(self, multi_op: bool = False) -> int:
        """Exact number of distinct genotypes (distinct digests) of this space.

        Counting rule: blocks choose independently, so the count is a product over blocks k = 1..N of
        |dense dims| x |sparse dims| x 2^|searchable mergers| x the sum, over operator choices, of the
        connection choices those operators read: a non-empty set of at most `max_inputs` of the k
        earlier nodes for the dense concat and again for the sparse concat, and k x k ordered
        (left, right) pairs for binary operators. Inputs no chosen operator reads are not counted
        (the canonical form drops them). Operator choices are one dense and one sparse operator
        (`multi_op=False`, the paper's single-operator space) or any non-empty subsets of each.
        Blocks that do not reach the head count like any other (they are part of the genotype).
        """
        total = 1
        for k in range(1, self.num_blocks + 1):
            subsets = sum(comb(k, i) for i in range(1, self.max_sources(k) + 1))
            per_read = {"dense": subsets, "sparse": subsets, "pair": k * k}
            conn = 0
            for ops in itertools.product(self._op_choices("dense", multi_op), self._op_choices("sparse", multi_op)):
                reads = set().union(*(get_signature(op).reads for op in ops[0] + ops[1]))
                n = 1
                for r in reads:
                    n *= per_read[r]
                conn += n
            total *= len(self.dense_dims) * len(self.sparse_dims) * 2 ** len(self.mergers) * conn
        return total

    def _op_choices(self, branch: str, multi_op: bool) -> list[tuple[str, ...]]:
        ops = getattr(self, f"{branch}_ops")
        if not multi_op:
            return [(op,) for op in ops]
        return [c for r in range(1, len(ops) + 1) for c in itertools.combinations(ops, r)]


DENSE_DIMS = (16, 32, 64, 128, 256, 512, 768, 1024)
SPARSE_DIMS = (16, 32, 48, 64)

NASREC_SMALL = SearchSpace(
    name="nasrec-small",
    num_blocks=7,
    dense_ops=("fc", "dot"),
    sparse_ops=("efc",),
    dense_dims=DENSE_DIMS,
    sparse_dims=SPARSE_DIMS,
)
NASREC_FULL = SearchSpace(
    name="nasrec-full",
    num_blocks=7,
    dense_ops=("fc", "gating", "sum", "dot"),
    sparse_ops=("efc", "attention"),
    dense_dims=DENSE_DIMS,
    sparse_dims=SPARSE_DIMS,
)
PRESETS: dict[str, SearchSpace] = {s.name: s for s in (NASREC_SMALL, NASREC_FULL)}


def _names_a_file(name: str) -> bool:
    return Path(name).suffix == ".json" or Path(name).exists()


def get_space(name_or_path: str | SearchSpace) -> SearchSpace:
    """A preset by name (`nasrec-small`, `nasrec-full`) or a search space JSON file."""
    if isinstance(name_or_path, SearchSpace):
        return name_or_path
    if name_or_path in PRESETS:
        return PRESETS[name_or_path]
    if _names_a_file(name_or_path):
        return SearchSpace.load(name_or_path)
    raise GenotypeError(f"unknown search space {name_or_path!r} (presets: {', '.join(PRESETS)}, or a JSON file)")


def space_of(genotype: Genotype, space: str | SearchSpace | None = None) -> SearchSpace:
    """The space to use for `genotype`: the one given, else the one its `space` field names (a preset or a file;
    the name of a `SearchSpace` built in code finds nothing: that one is passed as `space`)."""
    if space is not None:
        return get_space(space)
    if genotype.space is None:
        raise GenotypeError("the genotype names no space; pass one", "space")
    if genotype.space not in PRESETS and not _names_a_file(genotype.space):
        raise GenotypeError(
            f"{genotype.space!r} is neither a preset ({', '.join(PRESETS)}) nor a JSON file; pass the SearchSpace "
            "the genotype was drawn from as the space= argument",
            "space",
        )
    return get_space(genotype.space)
