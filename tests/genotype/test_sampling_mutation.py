import itertools

import numpy as np
import pytest

from nasrec.genotype import MUTATIONS, NASREC_FULL, NASREC_SMALL, GenotypeError, list_samplers, mutate, sample
from nasrec.genotype.mutation import MUTATION_FIELDS
from nasrec.genotype.space import SearchSpace
from tests.genotype.test_properties import BLOCK_FIELDS


@pytest.mark.parametrize("sampler", list_samplers())
def test_same_seed_same_genotype(sampler):
    assert sample(NASREC_FULL, sampler, 7) == sample(NASREC_FULL, sampler, np.random.default_rng(7))
    assert len({sample(NASREC_FULL, sampler, s).digest() for s in range(20)}) >= 19


def test_sampler_shapes():
    for seed in range(30):
        one = sample(NASREC_FULL, "single-operator-any-connection", seed)
        assert all(len(b.dense.ops) == 1 and len(b.sparse.ops) == 1 for b in one.blocks)
        assert all(len(b.inputs.sparse) <= 4 for b in one.blocks)
        path = sample(NASREC_FULL, "single-path", seed)
        assert all(len(b.inputs.sparse) == 1 and len(b.inputs.dense or (0,)) == 1 for b in path.blocks)
    full = sample(NASREC_FULL, "all-operators", 0)
    for k, b in enumerate(full.blocks, start=1):
        assert b.dense.ops == ("dot", "fc", "gating", "sum") and b.sparse.ops == ("attention", "efc")
        assert (b.dense.dim, b.sparse.dim) == (1024, 64)
        assert b.inputs.dense == tuple(range(k)) and b.dense_to_sparse and b.sparse_to_dense
    assert {len(b.dense.ops) for s in range(20) for b in sample(NASREC_FULL, "any-path", s).blocks} == {1, 2, 3, 4}


def test_unknown_sampler_is_named():
    with pytest.raises(ValueError, match=r"unknown sampler 'greedy' \(known: single-operator"):
        sample(NASREC_FULL, "greedy", 0)


OWN_FIELDS = {**MUTATION_FIELDS, "dense_op": {"dense.ops"}, "sparse_op": {"sparse.ops"}}
"""What each mutation must change (an operator mutation may also add the inputs its new operators read)."""


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("kind", list(MUTATIONS))
def test_each_mutation_kind_changes_its_field_and_nothing_else(kind, seed):
    parent = sample(NASREC_FULL, rng=3)
    child = mutate(parent, seed, kind=kind)
    assert child.meta["mutation"] == kind and child.meta["parent"] == parent.digest()
    b = child.meta["mutated_block"] - 1
    assert [i for i, (x, y) in enumerate(zip(parent.blocks, child.blocks, strict=True)) if x != y] == [b]
    changed = {f for f in BLOCK_FIELDS if _get(parent.blocks[b], f) != _get(child.blocks[b], f)}
    assert changed & OWN_FIELDS[kind] and changed <= MUTATION_FIELDS[kind]


def _get(block, field):
    obj = block
    for part in field.split("."):
        obj = getattr(obj, part)
    return obj


def test_mutation_that_cannot_change_anything_says_so():
    tiny = SearchSpace(
        name="tiny", num_blocks=1, dense_ops=("fc",), sparse_ops=("efc",), dense_dims=(8,), sparse_dims=(4,), mergers=()
    )
    g = sample(tiny, rng=0)
    with pytest.raises(GenotypeError, match=r"no mutation can change this genotype within space 'tiny'"):
        mutate(g, 0, tiny)
    with pytest.raises(GenotypeError, match=r"no mutation of kind 'dense_dim' can change"):
        mutate(g, 0, tiny, kind="dense_dim")


def test_mutate_requires_a_genotype_of_the_space():
    with pytest.raises(GenotypeError, match=r"is not in space 'nasrec-small'"):
        mutate(sample(NASREC_FULL, "all-operators", 0), 0, NASREC_SMALL)


def test_a_child_names_the_space_it_was_mutated_in_and_only_its_own_lineage(tmp_path):
    from nasrec.genotype import get_space
    from nasrec.genotype.zoo import load_zoo

    small = sample(NASREC_SMALL, rng=3)
    for seed in range(6):  # a child of a nasrec-small genotype mutated in nasrec-full may leave nasrec-small
        child = mutate(small, seed, "nasrec-full")
        assert child.space == "nasrec-full" and get_space(child.space).contains(child)
    assert mutate(small, 0).space == "nasrec-small"  # no space given: the parent's
    space_file = tmp_path / "full.json"
    space_file.write_text(NASREC_FULL.model_dump_json())
    assert mutate(small, 0, str(space_file)).space == str(space_file)  # a space file: as given, as `sample` does
    dlrm = load_zoo("dlrm")
    child = mutate(dlrm, 0, "nasrec-full")
    assert set(child.meta) == {"parent", "mutation", "mutated_block"}  # not "DLRM-like", nor its notes


def test_a_genotype_of_a_space_built_in_code_is_mutated_with_that_space_and_told_how_without_it():
    """Its space's name is no preset or file: mutating it as the README does said "unknown search space 'my-space'
    (presets: ...)", nothing of how to pass the space."""
    sp = SearchSpace(
        name="my-space", num_blocks=2, dense_ops=("fc",), sparse_ops=("efc",), dense_dims=(16, 32), sparse_dims=(16,)
    )
    g = sample(sp, rng=0)
    message = (
        r"^space: 'my-space' is neither a preset \(nasrec-small, nasrec-full\) nor a JSON file; pass the SearchSpace "
        r"the genotype was drawn from as the space= argument$"
    )
    with pytest.raises(GenotypeError, match=message):
        mutate(g, 0)
    child = mutate(g, 0, space=sp)
    assert child.space == "my-space" and sp.contains(child)
    with pytest.raises(GenotypeError, match=r"^space: the genotype names no space; pass one$"):
        mutate(g.model_copy(update={"space": None}), 0)


def test_an_operator_mutation_reaches_every_other_operator_set_only_over_several_operators_per_branch():
    """The paper's operator mutation swaps a single operator; with `multi_op` (evolution from `any-path`) a
    one-operator branch may become any other non-empty subset, so a search can grow it back."""
    one = NASREC_FULL.model_copy(update={"name": "one", "num_blocks": 1})
    parent = sample(one, rng=0)
    dense, sparse = parent.blocks[0].dense.ops, parent.blocks[0].sparse.ops
    assert (dense, sparse) == (("dot",), ("attention",))

    def reached(kind, branch, **options):
        return {getattr(mutate(parent, s, one, kind, **options).blocks[0], branch).ops for s in range(400)}

    assert reached("dense_op", "dense") == {("fc",), ("gating",), ("sum",)}
    assert reached("sparse_op", "sparse") == {("efc",)}
    every_dense = {c for r in range(1, 5) for c in itertools.combinations(sorted(one.dense_ops), r)}
    assert reached("dense_op", "dense", multi_op=True) == every_dense - {dense}
    assert reached("sparse_op", "sparse", multi_op=True) == {("efc",), ("attention", "efc")}
