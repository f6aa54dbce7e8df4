"""Path samplers: draw genotypes from a search space with an explicit `numpy.random.Generator`.

- `single-operator-any-connection` (the paper's default): one dense and one sparse operator per block,
  1 + Binomial(min(k - 1, 3), 0.5) sources per concat (as the reference), dims and mergers uniform.
- `single-path`: one operator and one source per branch.
- `any-path`: any non-empty subsets of operators and of sources.
- `all-operators`: every operator, every source (up to `max_inputs`), the largest dims, every merger on
  (the supernet warm-up's net); the binary operators' left/right sources are still drawn at random.
The last two draw several operators per branch (`MULTI_OPERATOR_SAMPLERS`).
All samplers return canonical genotypes of the space; same seed, same genotype.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from nasrec.genotype.schema import Block, BranchChoice, Genotype, Inputs
from nasrec.genotype.space import PRESETS, SearchSpace, get_space
from nasrec.registry import Registry

BlockSampler = Callable[[SearchSpace, int, np.random.Generator], Block]
SAMPLERS: Registry[BlockSampler] = Registry("sampler")
register_sampler = SAMPLERS.register
DEFAULT_SAMPLER = "single-operator-any-connection"
MULTI_OPERATOR_SAMPLERS: set[str] = {"any-path", "all-operators"}
"""Samplers that may give a branch several operators (a plug-in sampler that does adds its name): evolution
started from one lets its operator mutations do so too (`mutate(..., multi_op=True)`)."""


def list_samplers() -> list[str]:
    return SAMPLERS.names()


def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def sample(
    space: SearchSpace | str,
    sampler: str = DEFAULT_SAMPLER,
    rng: int | np.random.Generator | None = None,
) -> Genotype:
    """Draw one genotype of `space` with the named path sampler. Drawn from a space file, the genotype names
    the file as given (not the space's own name), so later commands find the space it belongs to."""
    named = space if isinstance(space, str) and space not in PRESETS else None
    space = get_space(space)
    block_sampler = SAMPLERS.get(sampler)
    gen = as_rng(rng)
    blocks = tuple(block_sampler(space, k, gen) for k in range(1, space.num_blocks + 1))
    return Genotype(space=named or space.name, blocks=blocks).canonical()


# -- pieces shared by the samplers and the mutations --------------------------------------------------
def pick(rng: np.random.Generator, options: tuple | list):
    return options[int(rng.integers(len(options)))]


def pick_subset(rng: np.random.Generator, options: Sequence, size: int) -> tuple:
    idx = rng.choice(len(options), size=size, replace=False)
    return tuple(sorted(options[int(i)] for i in idx))


def any_connection(space: SearchSpace, k: int, rng: np.random.Generator) -> tuple[int, ...]:
    """The reference's rule: 1 + Binomial(min(k - 1, 3), 0.5) distinct sources among nodes 0..k-1."""
    count = 1 + int(rng.binomial(min(k - 1, 3), 0.5))
    return pick_subset(rng, range(k), min(count, space.max_sources(k)))


def any_subset(rng: np.random.Generator, options: Sequence, limit: int | None = None) -> tuple:
    size = 1 + int(rng.integers(min(len(options), limit or len(options))))
    return pick_subset(rng, options, size)


def random_mergers(space: SearchSpace, rng: np.random.Generator) -> dict[str, bool]:
    return {m: bool(rng.integers(2)) if m in space.mergers else False for m in ("dense_to_sparse", "sparse_to_dense")}


def random_pair(k: int, rng: np.random.Generator) -> tuple[int, int]:
    return int(rng.integers(k)), int(rng.integers(k))


def _block(dense_ops, dense_dim, sparse_ops, sparse_dim, dense_in, sparse_in, pair, mergers) -> Block:
    return Block(
        dense=BranchChoice(ops=tuple(dense_ops), dim=int(dense_dim)),
        sparse=BranchChoice(ops=tuple(sparse_ops), dim=int(sparse_dim)),
        inputs=Inputs(dense=dense_in, sparse=sparse_in, left=pair[0], right=pair[1]),
        **mergers,
    )


@register_sampler("single-operator-any-connection")
def _single_operator_any_connection(space: SearchSpace, k: int, rng: np.random.Generator) -> Block:
    return _block(
        (pick(rng, space.dense_ops),),
        pick(rng, space.dense_dims),
        (pick(rng, space.sparse_ops),),
        pick(rng, space.sparse_dims),
        any_connection(space, k, rng),
        any_connection(space, k, rng),
        random_pair(k, rng),
        random_mergers(space, rng),
    )


@register_sampler("single-path")
def _single_path(space: SearchSpace, k: int, rng: np.random.Generator) -> Block:
    return _block(
        (pick(rng, space.dense_ops),),
        pick(rng, space.dense_dims),
        (pick(rng, space.sparse_ops),),
        pick(rng, space.sparse_dims),
        (int(rng.integers(k)),),
        (int(rng.integers(k)),),
        random_pair(k, rng),
        random_mergers(space, rng),
    )


@register_sampler("any-path")
def _any_path(space: SearchSpace, k: int, rng: np.random.Generator) -> Block:
    limit = space.max_sources(k)
    return _block(
        any_subset(rng, space.dense_ops),
        pick(rng, space.dense_dims),
        any_subset(rng, space.sparse_ops),
        pick(rng, space.sparse_dims),
        any_subset(rng, range(k), limit),
        any_subset(rng, range(k), limit),
        random_pair(k, rng),
        random_mergers(space, rng),
    )


@register_sampler("all-operators")
def _all_operators(space: SearchSpace, k: int, rng: np.random.Generator) -> Block:
    limit = space.max_sources(k)
    latest = tuple(range(k - limit, k))
    return _block(
        space.dense_ops,
        max(space.dense_dims),
        space.sparse_ops,
        max(space.sparse_dims),
        latest,
        latest,
        random_pair(k, rng),
        {m: True for m in space.mergers},
    )
