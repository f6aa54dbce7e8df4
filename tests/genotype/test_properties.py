"""Property tests over sampled, mutated and corrupted genotypes (fast profile in CI;
`--hypothesis-profile=thorough` runs >= 10,000 examples each)."""

import contextlib
import copy
import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from nasrec.genotype import Genotype, GenotypeError, from_nasrec_ref, mutate, to_nasrec_ref
from nasrec.genotype.mutation import MUTATION_FIELDS
from tests.genotype.strategies import genotypes, json_values, seeds

BLOCK_FIELDS = (
    "dense.ops",
    "dense.dim",
    "sparse.ops",
    "sparse.dim",
    "inputs.dense",
    "inputs.sparse",
    "inputs.left",
    "inputs.right",
    "dense_to_sparse",
    "sparse_to_dense",
)


def _get(block, field):
    for part in field.split("."):
        block = getattr(block, part)
    return block


@given(genotypes())
def test_every_sampled_genotype_is_valid_canonical_and_round_trips(sg):
    space, g = sg
    assert space.check(g) is g
    assert Genotype.from_dict(json.loads(g.to_json())) == g
    assert g.canonical() == g
    assert 1 <= len(g.active_blocks()) <= g.num_blocks and g.active_blocks()[-1] == g.num_blocks


@given(genotypes(), seeds)
def test_every_mutation_is_valid_changes_one_aspect_of_one_block_and_has_lineage(sg, seed):
    space, parent = sg
    try:
        child = mutate(parent, seed, space)
    except GenotypeError as exc:  # only when nothing at all can change: the space holds this genotype alone
        assert str(exc) == f"no mutation can change this genotype within space {space.name!r}"
        assert space.cardinality(multi_op=True) == 1
        return
    space.check(child)
    assert child.digest() != parent.digest()
    assert child.meta["parent"] == parent.digest() and child.meta["mutation"] in MUTATION_FIELDS
    changed_blocks = [i for i, (a, b) in enumerate(zip(parent.blocks, child.blocks, strict=True)) if a != b]
    assert changed_blocks == [child.meta["mutated_block"] - 1]
    b = changed_blocks[0]
    changed = {f for f in BLOCK_FIELDS if _get(parent.blocks[b], f) != _get(child.blocks[b], f)}
    assert changed and changed <= MUTATION_FIELDS[child.meta["mutation"]]


@given(genotypes(), seeds)
def test_canonical_is_idempotent_and_digest_ignores_input_order(sg, seed):
    _, g = sg
    rng = np.random.default_rng(seed)
    doc = g.to_dict()
    for block in doc["blocks"]:
        ins = block["inputs"]
        for field in ("dense", "sparse"):
            if field in ins:  # shuffle and duplicate
                ins[field] = [int(x) for x in rng.permutation(ins[field] + ins[field][:1])]
        block["dense"]["ops"] = [str(x) for x in rng.permutation(block["dense"]["ops"])]
        if "left" not in ins:  # unread pair: any value
            ins["left"] = ins["right"] = 0
    shuffled = Genotype.from_dict(doc)
    assert shuffled.digest() == g.digest()
    assert shuffled.canonical() == g.canonical() == g.canonical().canonical()


@given(genotypes(), seeds)
def test_digest_changes_when_anything_else_changes(sg, seed):
    _space, g = sg
    rng = np.random.default_rng(seed)
    doc = g.to_dict()
    k = int(rng.integers(g.num_blocks))
    block = doc["blocks"][k]
    edits = [
        lambda: block["dense"].update(dim=block["dense"]["dim"] + 1),
        lambda: block["sparse"].update(dim=block["sparse"]["dim"] + 1),
        lambda: block.update(dense_to_sparse=not block["dense_to_sparse"]),
        lambda: block.update(sparse_to_dense=not block["sparse_to_dense"]),
    ]
    if k > 0:
        ins = block["inputs"]
        for field in ("dense", "sparse"):
            if field in ins:
                edits.append(lambda f=field: ins.update({f: sorted(set(range(k + 1)) ^ set(ins[f])) or [0]}))
        if "left" in ins:
            edits.append(lambda: ins.update(left=(ins["left"] + 1) % (k + 1)))
    edits[int(rng.integers(len(edits)))]()
    changed = Genotype.from_dict(doc)
    assert changed.digest() != g.digest()


@given(genotypes(), st.dictionaries(st.text(max_size=5), json_values, max_size=3))
def test_json_round_trip_is_identity(sg, meta):
    _, g = sg
    g = g.with_meta(**meta)
    text = g.to_json()
    assert Genotype.from_json(text) == g
    assert Genotype.from_json(text).to_json() == text


@given(json_values)
def test_arbitrary_json_raises_only_genotype_error(value):
    for doc in (value, {"schema_version": 1, "blocks": value}, {"blocks": [value]}):
        with contextlib.suppress(GenotypeError):
            Genotype.from_dict(doc)
        with contextlib.suppress(GenotypeError):
            from_nasrec_ref(doc)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _paths(child, (*prefix, i))


@given(genotypes(), seeds, json_values, st.sampled_from(["delete", "retype", "range"]))
def test_corrupted_valid_documents_raise_only_genotype_error(sg, seed, replacement, how):
    _, g = sg
    rng = np.random.default_rng(seed)
    for doc in (g.to_dict(), to_nasrec_ref(g) if g.space in ("nasrec-full", "nasrec-small") else g.to_dict()):
        doc = copy.deepcopy(doc)
        paths = [p for p in _paths(doc) if p]
        path = paths[int(rng.integers(len(paths)))]
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        if how == "delete":
            del parent[last]
        elif how == "retype":
            parent[last] = replacement
        else:
            old = parent[last]
            parent[last] = (-1 - abs(old) if rng.integers(2) else old + 10**6) if isinstance(old, int) else -1
        for load in (Genotype.from_dict, from_nasrec_ref):
            with contextlib.suppress(GenotypeError):
                load(doc)
