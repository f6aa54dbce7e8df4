"""Hypothesis strategies for genotypes and search spaces (shared by the property tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from nasrec.genotype import PRESETS, SearchSpace, list_samplers, list_signatures, sample
from nasrec.genotype.space import MERGERS


@st.composite
def small_spaces(draw) -> SearchSpace:
    dense = [s.name for s in list_signatures("dense")]
    sparse = [s.name for s in list_signatures("sparse")]
    return SearchSpace(
        name="custom",
        num_blocks=draw(st.integers(1, 5)),
        dense_ops=tuple(draw(st.lists(st.sampled_from(dense), min_size=1, max_size=len(dense), unique=True))),
        sparse_ops=tuple(draw(st.lists(st.sampled_from(sparse), min_size=1, max_size=len(sparse), unique=True))),
        dense_dims=tuple(draw(st.lists(st.integers(1, 64), min_size=1, max_size=4, unique=True))),
        sparse_dims=tuple(draw(st.lists(st.integers(1, 16), min_size=1, max_size=3, unique=True))),
        mergers=tuple(draw(st.lists(st.sampled_from(MERGERS), unique=True))),
        max_inputs=draw(st.one_of(st.none(), st.integers(1, 3))),
    )


spaces = st.one_of(st.sampled_from(list(PRESETS.values())), small_spaces())
samplers_ = st.sampled_from(list_samplers())
seeds = st.integers(0, 2**32 - 1)


@st.composite
def genotypes(draw, space=None):
    space = draw(spaces) if space is None else space
    return space, sample(space, draw(samplers_), draw(seeds))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
