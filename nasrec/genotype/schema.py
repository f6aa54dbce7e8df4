"""Genotype schema (version 1): pydantic models, structural checks, canonical form, digests, liveness.

A genotype is a stack of choice blocks. Node 0 is the raw input; block k (1-based) is node k and reads
only nodes < k. See docs/design.md "The genotype" for the JSON format. Structural limits (below any space):
at most `MAX_BLOCKS` blocks, dims at most `MAX_DIM`, `meta` nested at most `MAX_META_DEPTH` levels.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

import networkx as nx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from nasrec.genotype.errors import GenotypeError, from_validation_error
from nasrec.genotype.liveness import BlockLiveness, dataflow, live_form, liveness
from nasrec.genotype.operators import Input, get_signature
from nasrec.registry import UnknownNameError

SCHEMA_VERSION: Literal[1] = 1
MAX_BLOCKS = 64
MAX_DIM = 4096
MAX_META_DEPTH = 32
NodeId = Annotated[StrictInt, Field(ge=0)]
Dim = Annotated[StrictInt, Field(gt=0, le=MAX_DIM)]
Sources = Annotated[tuple[NodeId, ...], Field(min_length=1, max_length=MAX_BLOCKS)]
_FROZEN = ConfigDict(extra="forbid", frozen=True)


class _Model(BaseModel):
    """Base: unknown keys rejected, immutable. Load documents with `Genotype.from_dict` / `from_json`,
    which raise `GenotypeError`; direct construction raises pydantic's ValidationError (a ValueError)."""

    model_config = _FROZEN

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; unset optional fields are left out."""
        return self.model_dump(mode="json", exclude_none=True)


class BranchChoice(_Model):
    """The operators of one branch (their outputs are summed) and the branch's output dim."""

    ops: Annotated[tuple[StrictStr, ...], Field(min_length=1)]
    dim: Dim

    @model_validator(mode="after")
    def _unique_ops(self) -> BranchChoice:
        for i, op in enumerate(self.ops):
            if op in self.ops[:i]:
                raise GenotypeError(f"operator {op!r} is listed twice", f"ops[{i}]")
        return self


class Inputs(_Model):
    """Sources of a block: dense / sparse concats (lists of node ids) and the binary operators' pair."""

    dense: Sources | None = None
    sparse: Sources | None = None
    left: NodeId | None = None
    right: NodeId | None = None

    def nodes(self) -> set[int]:
        out = set(self.dense or ()) | set(self.sparse or ())
        return out | {n for n in (self.left, self.right) if n is not None}


class Block(_Model):
    dense: BranchChoice
    sparse: BranchChoice
    inputs: Inputs
    dense_to_sparse: StrictBool = False
    sparse_to_dense: StrictBool = False

    @model_validator(mode="after")
    def _ops_fit(self) -> Block:
        for branch in ("dense", "sparse"):
            for i, op in enumerate(getattr(self, branch).ops):
                try:
                    sig = get_signature(op)
                except UnknownNameError as exc:
                    raise GenotypeError(str(exc), f"{branch}.ops[{i}]") from None
                if sig.branch != branch:
                    raise GenotypeError(f"{op!r} is a {sig.branch} operator, not a {branch} one", f"{branch}.ops[{i}]")
        for need in sorted(self.reads()):
            fields = ("left", "right") if need == "pair" else (need,)
            for field in fields:
                if getattr(self.inputs, field) is None:
                    readers = [op for op in self.dense.ops + self.sparse.ops if need in get_signature(op).reads]
                    raise GenotypeError(f"required: operator {readers[0]!r} reads it", f"inputs.{field}")
        return self

    def reads(self) -> set[Input]:
        """Which inputs the block's operators consume."""
        out: set[Input] = set()
        for op in self.dense.ops + self.sparse.ops:
            out |= get_signature(op).reads
        return out

    def sources(self) -> set[int]:
        """Node ids whose outputs the block's operators actually read."""
        reads, ins = self.reads(), self.inputs
        out = set(ins.dense or ()) if "dense" in reads else set()
        out |= set(ins.sparse or ()) if "sparse" in reads else set()
        if "pair" in reads:
            out |= {n for n in (ins.left, ins.right) if n is not None}
        return out

    def unread_inputs(self) -> list[str]:
        """The fields of `inputs` set but read by no operator of the block (the canonical form drops them)."""
        reads = self.reads()
        wanted = {"dense": "dense", "sparse": "sparse", "left": "pair", "right": "pair"}
        return [f for f, need in wanted.items() if getattr(self.inputs, f) is not None and need not in reads]

    def canonical(self) -> Block:
        reads, ins = self.reads(), self.inputs
        pair = "pair" in reads
        return Block(
            dense=BranchChoice(ops=tuple(sorted(self.dense.ops)), dim=self.dense.dim),
            sparse=BranchChoice(ops=tuple(sorted(self.sparse.ops)), dim=self.sparse.dim),
            inputs=Inputs(
                dense=tuple(sorted(set(ins.dense))) if "dense" in reads and ins.dense else None,
                sparse=tuple(sorted(set(ins.sparse))) if "sparse" in reads and ins.sparse else None,
                left=ins.left if pair else None,
                right=ins.right if pair else None,
            ),
            dense_to_sparse=self.dense_to_sparse,
            sparse_to_dense=self.sparse_to_dense,
        )


class Genotype(_Model):
    """One CTR architecture. Build it from JSON with `Genotype.from_json` / `from_dict` / `io.load`."""

    schema_version: Literal[1] = SCHEMA_VERSION
    space: StrictStr | None = None
    blocks: Annotated[tuple[Block, ...], Field(min_length=1, max_length=MAX_BLOCKS)]
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("schema_version", mode="before")
    @classmethod
    def _a_version_we_read(cls, version: Any) -> Any:
        if type(version) is not int:  # Literal[1] alone takes true and 1.0
            raise GenotypeError(f"must be the integer {SCHEMA_VERSION}, got {json.dumps(version)}")
        if version > SCHEMA_VERSION:
            raise GenotypeError(f"{version} is newer than this nasrec reads ({SCHEMA_VERSION}): upgrade nasrec")
        if version < 1:
            raise GenotypeError(
                f"{version} is not a format version (they count from 1; this nasrec reads {SCHEMA_VERSION})"
            )
        return version

    @field_validator("meta")
    @classmethod
    def _meta_is_json(cls, meta: dict[str, Any]) -> dict[str, Any]:
        if _depth(meta) > MAX_META_DEPTH:
            raise GenotypeError(f"nested deeper than {MAX_META_DEPTH} levels")
        try:
            json.dumps(meta, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise GenotypeError(f"must be plain JSON (finite numbers, strings, lists, objects): {exc}") from None
        return meta

    @model_validator(mode="after")
    def _earlier_nodes_only(self) -> Genotype:
        for k, block in enumerate(self.blocks, start=1):
            ins = block.inputs
            for field in ("dense", "sparse"):
                for j, node in enumerate(getattr(ins, field) or ()):
                    if node >= k:
                        raise GenotypeError(_later(node, k), f"blocks[{k - 1}].inputs.{field}[{j}]")
            for field in ("left", "right"):
                node = getattr(ins, field)
                if node is not None and node >= k:
                    raise GenotypeError(_later(node, k), f"blocks[{k - 1}].inputs.{field}")
        return self

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any) -> Genotype:
        """Validate a parsed document; it must state `schema_version` (a missing one is an error, not 1), which is
        checked first: a version this nasrec cannot read is the one problem told, whatever else the file holds. A
        `Genotype` is returned as it is (a log record's genotype may already be one)."""
        if isinstance(data, Genotype):
            return data
        if not isinstance(data, dict):
            raise GenotypeError(
                f'must be a JSON object ({{"schema_version": {SCHEMA_VERSION}, "blocks": [...]}}), not {_kind(data)}',
                "<document>",
            )
        if "schema_version" not in data:
            raise GenotypeError(
                f"required key is missing (genotype documents state their format version: "
                f'"schema_version": {SCHEMA_VERSION})',
                "schema_version",
            )
        try:
            cls._a_version_we_read(data["schema_version"])
        except GenotypeError as exc:
            raise GenotypeError(exc.rule, "schema_version") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise from_validation_error(exc, keys=_known_keys) from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Genotype:
        return cls.from_dict(parse_json(text))

    # -- serialisation -------------------------------------------------------------------------
    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of genotype documents, `schema_version` required (as `from_dict` holds it; the model's
        default of 1 is for genotypes built in code, not for documents)."""
        schema = cls.model_json_schema()
        schema["properties"]["schema_version"].pop("default", None)
        schema["required"] = ["schema_version", *(k for k in schema.get("required", ()) if k != "schema_version")]
        return schema

    # -- identity ------------------------------------------------------------------------------
    def canonical(self) -> Genotype:
        """Inputs sorted and de-duplicated, operators sorted, inputs no operator reads dropped."""
        return self.model_copy(update={"blocks": tuple(b.canonical() for b in self.blocks)})

    def digest(self) -> str:
        """Stable hash of the canonical architecture (`space` and `meta` are labels, not part of it)."""
        body = {"schema_version": self.schema_version, "blocks": [b.to_dict() for b in self.canonical().blocks]}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def active_digest(self) -> str:
        """Hash of what the model computes: like `digest`, but only of the live form (`live_form`), so
        genotypes differing only in parts that do not reach the head (dead blocks, operators, mergers)
        share it."""
        text = json.dumps(
            {"schema_version": self.schema_version, "blocks": self.live_form()}, sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __hash__(self) -> int:
        return hash(self.digest())

    def with_meta(self, **updates: Any) -> Genotype:
        """A copy with `meta` updated, checked by the validator `from_dict` runs on a document's (plain JSON, finite
        numbers), so that it saves and loads back equal; the blocks, already valid, are not checked again."""
        meta = {**self.meta, **updates}
        try:
            self._meta_is_json(meta)
        except GenotypeError as exc:
            raise GenotypeError(exc.rule, "meta") from None
        return self.model_copy(update={"meta": meta})

    def unread_inputs(self) -> list[tuple[str, str]]:
        """(JSON path, what is wrong) per connection that no operator of its block reads: legal, and ignored (the
        canonical form and the digest leave it out), so most likely not what the author meant."""
        pair = "a left/right pair"
        what = {"dense": "a dense input", "sparse": "a sparse input", "left": pair, "right": pair}
        out = []
        for b, block in enumerate(self.blocks):
            ops = ", ".join(block.dense.ops + block.sparse.ops)
            for field in block.unread_inputs():
                out.append(
                    (
                        f"blocks[{b}].inputs.{field}",
                        f"no operator of this block ({ops}) reads {what[field]}; the connection is ignored "
                        "(leave it out, or choose an operator that reads it)",
                    )
                )
        return out

    # -- structure -----------------------------------------------------------------------------
    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    def dataflow(self) -> nx.DiGraph:
        """The data flow between the blocks' parts (see `nasrec.genotype.liveness`)."""
        return dataflow(self.canonical().blocks)

    def liveness(self) -> tuple[BlockLiveness, ...]:
        """Per block, which of its parts (operators, mergers, outputs) reach the head."""
        return liveness(self.canonical().blocks)

    def live_form(self) -> list[dict[str, Any] | None]:
        """Only what reaches the head, per block (None for a dead block); derived, never stored."""
        return live_form(self.canonical().blocks)

    def active_blocks(self) -> list[int]:
        """1-based indices of the blocks with a part that reaches the head."""
        return [k for k, lv in enumerate(self.liveness(), start=1) if lv.live]


def parse_json(text: str | bytes) -> Any:
    """`json.loads`, with every failure (bad syntax, bad encoding, nesting too deep) a `GenotypeError`."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GenotypeError(f"not valid JSON ({exc})") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise GenotypeError(f"not valid JSON here ({exc})") from None
    except RecursionError:
        raise GenotypeError("not valid JSON (nested deeper than the parser allows)") from None


def _kind(value: Any) -> str:
    """How a JSON value that is not an object is named in a message: `a list`, `a string`, `null`..."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    names = {list: "a list", str: "a string", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


_MODELS: dict[tuple[str, ...], type[BaseModel]] = {
    (): Genotype,
    ("blocks",): Block,
    ("blocks", "dense"): BranchChoice,
    ("blocks", "sparse"): BranchChoice,
    ("blocks", "inputs"): Inputs,
}


def _known_keys(loc: tuple[Any, ...]) -> tuple[str, ...]:
    """The keys the object at `loc` (`("blocks", 2, "inputs")`) may hold (none for one that is free JSON)."""
    model = _MODELS.get(tuple(p for p in loc if not isinstance(p, int)))
    return tuple(model.model_fields) if model is not None else ()


def _depth(value: Any) -> int:
    """Nesting depth of lists and dicts in `value` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            deepest = max(deepest, depth + 1)
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _later(node: int, k: int) -> str:
    return f"node {node} is not earlier than block {k} (block {k} may read nodes 0..{k - 1})"
