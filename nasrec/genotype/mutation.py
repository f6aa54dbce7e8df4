"""The paper's six mutations. Each changes exactly one aspect of one block and returns a new, valid,
canonical genotype of the space (never the same one), with lineage in `meta` (`parent`, `mutation`,
`mutated_block`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nasrec.genotype.errors import GenotypeError
from nasrec.genotype.operators import get_signature
from nasrec.genotype.sampling import any_connection, any_subset, as_rng, pick, random_pair
from nasrec.genotype.schema import Block, Genotype
from nasrec.genotype.space import MERGERS, PRESETS, SearchSpace, space_of
from nasrec.registry import Registry

BlockMutation = Callable[[Block, SearchSpace, int, np.random.Generator], Block]
MUTATIONS: Registry[BlockMutation] = Registry("mutation")
register_mutation = MUTATIONS.register
_TRIES = 16


def mutate(
    genotype: Genotype,
    rng: int | np.random.Generator | None = None,
    space: SearchSpace | str | None = None,
    kind: str | None = None,
    multi_op: bool = False,
) -> Genotype:
    """Apply one mutation (`kind`, or one drawn at random) to one random block where it can change
    something. The child names the space it was mutated in (`space`, as `sample` names it; else the parent's)
    and carries only its lineage in `meta` (the parent's name, notes and scores describe the parent). Raises
    `GenotypeError` when no mutation of that kind can change the genotype.

    An operator mutation gives a one-operator branch another single operator (the paper's) and a branch of
    several any other non-empty subset; with `multi_op` (a search over several operators per branch) a
    one-operator branch may get any other non-empty subset too, so the search can grow it back."""
    gen = as_rng(rng)
    named = space if isinstance(space, str) and space not in PRESETS else None  # a space file, as given
    child_space = genotype.space if space is None else None
    space = space_of(genotype, space)
    child_space = child_space or named or space.name
    parent = space.check(genotype).canonical()
    kinds = [kind] if kind is not None else list(MUTATIONS)
    for k in kinds:
        MUTATIONS.get(k)  # unknown kinds fail here, naming the known ones
    candidates = [(name, b) for name in kinds for b in range(parent.num_blocks)]
    for i in gen.permutation(len(candidates)):
        name, b = candidates[int(i)]
        old = parent.blocks[b]
        for _ in range(_TRIES):
            mutation = _MULTI_OP_MUTATIONS.get(name, MUTATIONS[name]) if multi_op else MUTATIONS[name]
            new = mutation(old, space, b + 1, gen).canonical()
            if new != old:
                blocks = (*parent.blocks[:b], new, *parent.blocks[b + 1 :])
                child = parent.model_copy(update={"blocks": blocks, "space": child_space, "meta": {}})
                return child.with_meta(parent=parent.digest(), mutation=name, mutated_block=b + 1)
    raise GenotypeError(
        f"no mutation {'of kind ' + repr(kind) + ' ' if kind else ''}can change this genotype "
        f"within space {space.name!r}"
    )


def _other(rng: np.random.Generator, options: tuple, current) -> object:
    rest = [o for o in options if o != current]
    return pick(rng, rest) if rest else current


def _replace(block: Block, **updates) -> Block:
    data = block.model_dump()
    for key, value in updates.items():
        head, _, field = key.partition("__")
        if field:
            data[head][field] = value
        else:
            data[head] = value
    return Block.model_validate(data)


def _with_ops(
    block: Block, branch: str, ops: tuple[str, ...], space: SearchSpace, k: int, rng: np.random.Generator
) -> Block:
    """The block with new operators on `branch`, given any inputs the new operators read and it lacks."""
    data = block.model_dump()
    data[branch]["ops"] = ops
    reads = set().union(*(get_signature(op).reads for op in data["dense"]["ops"] + data["sparse"]["ops"]))
    ins = data["inputs"]
    for field in ("dense", "sparse"):
        if field in reads and ins[field] is None:
            ins[field] = any_connection(space, k, rng)
    if "pair" in reads and ins["left"] is None:
        ins["left"], ins["right"] = random_pair(k, rng)
    return Block.model_validate(data)


def _new_ops(
    current: tuple[str, ...], options: tuple[str, ...], rng: np.random.Generator, multi_op: bool = False
) -> tuple[str, ...]:
    """Another single operator for a single one (unless `multi_op`), else a subset drawn as `any-path` draws
    it (`mutate` draws again while it equals `current`)."""
    if len(current) == 1 and not multi_op:
        return (str(_other(rng, options, current[0])),)
    return any_subset(rng, options)


@register_mutation("dense_dim")
def _dense_dim(block: Block, space: SearchSpace, k: int, rng: np.random.Generator) -> Block:
    return _replace(block, dense__dim=_other(rng, space.dense_dims, block.dense.dim))


@register_mutation("sparse_dim")
def _sparse_dim(block: Block, space: SearchSpace, k: int, rng: np.random.Generator) -> Block:
    return _replace(block, sparse__dim=_other(rng, space.sparse_dims, block.sparse.dim))


def _op_mutation(branch: str, multi_op: bool) -> BlockMutation:
    def mutation(block: Block, space: SearchSpace, k: int, rng: np.random.Generator) -> Block:
        ops = _new_ops(getattr(block, branch).ops, getattr(space, f"{branch}_ops"), rng, multi_op)
        return _with_ops(block, branch, ops, space, k, rng)

    return mutation


register_mutation("dense_op", _op_mutation("dense", multi_op=False))
register_mutation("sparse_op", _op_mutation("sparse", multi_op=False))
_MULTI_OP_MUTATIONS = {
    name: _op_mutation(name.removesuffix("_op"), multi_op=True) for name in ("dense_op", "sparse_op")
}


@register_mutation("connections")
def _connections(block: Block, space: SearchSpace, k: int, rng: np.random.Generator) -> Block:
    reads, updates = block.reads(), dict[str, Any]()
    for field in ("dense", "sparse"):
        if field in reads:
            updates[f"inputs__{field}"] = any_connection(space, k, rng)
    if "pair" in reads:
        updates["inputs__left"], updates["inputs__right"] = random_pair(k, rng)
    return _replace(block, **updates)


@register_mutation("mergers")
def _mergers(block: Block, space: SearchSpace, k: int, rng: np.random.Generator) -> Block:
    if not space.mergers:
        return block
    flip = pick(rng, space.mergers)
    return _replace(block, **{flip: not getattr(block, flip)})


# The aspect of a block each mutation may touch (for tests and `genotype diff`).
MUTATION_FIELDS: dict[str, frozenset[str]] = {
    "dense_dim": frozenset({"dense.dim"}),
    "sparse_dim": frozenset({"sparse.dim"}),
    "dense_op": frozenset({"dense.ops", "inputs.dense", "inputs.sparse", "inputs.left", "inputs.right"}),
    "sparse_op": frozenset({"sparse.ops", "inputs.dense", "inputs.sparse", "inputs.left", "inputs.right"}),
    "connections": frozenset({"inputs.dense", "inputs.sparse", "inputs.left", "inputs.right"}),
    "mergers": frozenset(MERGERS),
}
assert set(MUTATION_FIELDS) == set(MUTATIONS)
