import copy
import json

import pydantic
import pytest

from nasrec.genotype import Genotype, GenotypeError

EXAMPLE = {
    "schema_version": 1,
    "space": "nasrec-full",
    "blocks": [
        {
            "dense": {"ops": ["fc"], "dim": 128},
            "sparse": {"ops": ["efc"], "dim": 48},
            "inputs": {"dense": [0], "sparse": [0], "left": 0, "right": 0},
            "dense_to_sparse": True,
            "sparse_to_dense": False,
        },
        {
            "dense": {"ops": ["gating"], "dim": 64},
            "sparse": {"ops": ["attention"], "dim": 16},
            "inputs": {"dense": [1, 0, 0], "sparse": [1], "left": 1, "right": 1},
        },
        {
            "dense": {"ops": ["sum"], "dim": 32},
            "sparse": {"ops": ["efc"], "dim": 16},
            "inputs": {"sparse": [0], "left": 0, "right": 1},
        },
        {
            "dense": {"ops": ["dot", "fc"], "dim": 16},
            "sparse": {"ops": ["efc"], "dim": 16},
            "inputs": {"dense": [1, 0], "sparse": [2, 0]},
        },
    ],
    "meta": {"name": "example"},
}


def test_example_loads_with_structure():
    g = Genotype.from_dict(EXAMPLE)
    assert g.num_blocks == 4
    assert g.blocks[0].dense_to_sparse and not g.blocks[1].dense_to_sparse
    assert g.blocks[1].sources() == {1}  # gating reads only left/right
    assert g.blocks[3].sources() == {0, 1, 2}
    # block 3 feeds nothing: block 4 reads nodes 0, 1, 2 and the head reads block 4
    assert g.active_blocks() == [1, 2, 4]


def test_canonical_sorts_dedupes_and_drops_unread_inputs():
    c = Genotype.from_dict(EXAMPLE).canonical()
    assert c.blocks[0].inputs.left is None and c.blocks[0].inputs.right is None
    assert c.blocks[1].inputs.dense is None and (c.blocks[1].inputs.left, c.blocks[1].inputs.right) == (1, 1)
    assert c.blocks[3].dense.ops == ("dot", "fc")
    assert c.blocks[3].inputs.dense == (0, 1) and c.blocks[3].inputs.sparse == (0, 2)
    assert c.canonical() == c
    assert c.meta == {"name": "example"}


def test_digest_ignores_meta_space_and_input_order():
    g = Genotype.from_dict(EXAMPLE)
    other = copy.deepcopy(EXAMPLE)
    other["meta"] = {"name": "other"}
    other["space"] = None
    other["blocks"][3]["inputs"]["dense"] = [0, 1, 1]
    other["blocks"][3]["dense"]["ops"] = ["fc", "dot"]
    other["blocks"][0]["inputs"]["left"] = 0  # unread by fc
    assert Genotype.from_dict(other).digest() == g.digest()
    other["blocks"][3]["dense"]["dim"] = 32
    assert Genotype.from_dict(other).digest() != g.digest()
    assert len(g.digest()) == 16 and int(g.digest(), 16) >= 0


def test_json_round_trip_and_schema_export():
    g = Genotype.from_dict(EXAMPLE)
    assert Genotype.from_json(g.to_json()) == g
    assert Genotype.from_json(g.to_json()).to_json() == g.to_json()
    schema = Genotype.json_schema()
    assert set(schema["properties"]) == {"schema_version", "space", "blocks", "meta"}
    assert schema["additionalProperties"] is False


def test_the_json_schema_requires_schema_version_as_the_loader_does():
    schema = Genotype.json_schema()
    assert schema["required"] == ["schema_version", "blocks"]
    assert schema["properties"]["schema_version"] == {"const": 1, "title": "Schema Version", "type": "integer"}
    jsonschema = pytest.importorskip("jsonschema")
    without = {k: v for k, v in EXAMPLE.items() if k != "schema_version"}
    with pytest.raises(jsonschema.ValidationError, match="'schema_version' is a required property"):
        jsonschema.validate(without, schema)
    jsonschema.validate(EXAMPLE, schema)


def _broken(edit):
    doc = copy.deepcopy(EXAMPLE)
    edit(doc)
    return doc


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda d: d["blocks"][3]["inputs"]["dense"].append(4),
            "blocks[3].inputs.dense[2]: node 4 is not earlier than block 4 (block 4 may read nodes 0..3)",
        ),
        (
            lambda d: d["blocks"][1]["inputs"].update(right=2),
            "blocks[1].inputs.right: node 2 is not earlier than block 2 (block 2 may read nodes 0..1)",
        ),
        (lambda d: d["blocks"][0]["dense"].update(dim=0), "blocks[0].dense.dim: Input should be greater than 0"),
        (lambda d: d["blocks"][0]["dense"].update(dim="128"), "blocks[0].dense.dim: Input should be a valid integer"),
        (lambda d: d["blocks"][0]["dense"].update(dim=True), "blocks[0].dense.dim: Input should be a valid integer"),
        (lambda d: d["blocks"][2].update(colour="red"), "blocks[2].colour: unknown key"),
        (lambda d: d["blocks"][2].pop("inputs"), "blocks[2].inputs: required key is missing"),
        (
            lambda d: d["blocks"][2]["inputs"].update(sparse=[]),
            "blocks[2].inputs.sparse: Tuple should have at least 1 item after validation, not 0",
        ),
        (lambda d: d["blocks"][2]["inputs"].pop("left"), "blocks[2].inputs.left: required: operator 'sum' reads it"),
        (
            lambda d: d["blocks"][1]["inputs"].update(left=-1),
            "blocks[1].inputs.left: Input should be greater than or equal to 0",
        ),
        (
            lambda d: d["blocks"][1]["dense"].update(ops=["efc"]),
            "blocks[1].dense.ops[0]: 'efc' is a sparse operator, not a dense one",
        ),
        (
            lambda d: d["blocks"][1]["dense"].update(ops=["conv"]),
            "blocks[1].dense.ops[0]: unknown operator 'conv' (known: fc, gating, sum, dot, efc, attention)",
        ),
        (
            lambda d: d["blocks"][3]["dense"].update(ops=["fc", "fc"]),
            "blocks[3].dense.ops[1]: operator 'fc' is listed twice",
        ),
        (
            lambda d: d["blocks"][3]["dense"].update(ops=[]),
            "blocks[3].dense.ops: Tuple should have at least 1 item after validation, not 0",
        ),
        (lambda d: d.update(schema_version=2), "schema_version: 2 is newer than this nasrec reads (1): upgrade nasrec"),
        (  # was: schema_version: Input should be 1
            lambda d: d.update(schema_version=0),
            "schema_version: 0 is not a format version (they count from 1; this nasrec reads 1)",
        ),
        (
            lambda d: d.update(schema_version=-3),
            "schema_version: -3 is not a format version (they count from 1; this nasrec reads 1)",
        ),
        (  # a newer format's other changes are not reported as problems of their own
            lambda d: d.update(schema_version=3, graph={}, blocks=None),
            "schema_version: 3 is newer than this nasrec reads (1): upgrade nasrec",
        ),
        # a misspelled key: was `blocks[2].inputs: required key is missing (and 1 more problem(s))`
        (
            lambda d: d["blocks"][2].update(imputs=d["blocks"][2].pop("inputs")),
            "blocks[2].imputs: unknown key (did you mean inputs?)",
        ),
        (
            lambda d: d["blocks"][0]["dense"].update(dims=d["blocks"][0]["dense"].pop("dim")),
            "blocks[0].dense.dims: unknown key (did you mean dim?)",
        ),
        (lambda d: d.update(block=d.pop("blocks")), "block: unknown key (did you mean blocks?)"),
        (  # an optional key misspelled (was: `unknown key` alone)
            lambda d: d["blocks"][0].update(dense_to_sparce=d["blocks"][0].pop("dense_to_sparse")),
            "blocks[0].dense_to_sparce: unknown key (did you mean dense_to_sparse?)",
        ),
        (
            lambda d: d["blocks"][1]["inputs"].update(rigth=1),
            "blocks[1].inputs.rigth: unknown key (did you mean right?)",
        ),
        (  # the misspelling is one problem; another is counted
            lambda d: d["blocks"][2].update(imputs=d["blocks"][2].pop("inputs"), colour="red"),
            "blocks[2].imputs: unknown key (did you mean inputs?) (and 1 more problem(s))",
        ),
        (lambda d: d.update(schema_version=True), "schema_version: must be the integer 1, got true"),
        (lambda d: d.update(schema_version=1.0), "schema_version: must be the integer 1, got 1.0"),
        (lambda d: d.update(blocks=[]), "blocks: Tuple should have at least 1 item after validation, not 0"),
        (
            lambda d: d.update(meta={"loss": float("inf")}),
            "meta: must be plain JSON (finite numbers, strings, lists, objects): "
            "Out of range float values are not JSON compliant",
        ),
        (
            lambda d: d["blocks"][0].update(dense_to_sparse="yes"),
            "blocks[0].dense_to_sparse: Input should be a valid boolean",
        ),
    ],
)
def test_each_broken_rule_is_one_error_naming_path_and_rule(edit, message):
    with pytest.raises(GenotypeError) as info:
        Genotype.from_dict(_broken(edit))
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_not_json_and_not_an_object():
    with pytest.raises(GenotypeError, match=r"^not valid JSON"):
        Genotype.from_json("{blocks: ")
    # was: `<document>: Input should be a valid dictionary or instance of Genotype` (an internal class)
    for doc, kind in (([1, 2], "a list"), ("x", "a string"), (3, "a number"), (None, "null"), (True, "true")):
        with pytest.raises(GenotypeError) as info:
            Genotype.from_dict(doc)
        assert str(info.value) == (
            f'<document>: must be a JSON object ({{"schema_version": 1, "blocks": [...]}}), not {kind}'
        )
    g = Genotype.from_dict(EXAMPLE)
    assert Genotype.from_dict(g) is g  # a log record's genotype may already be one


def test_connections_no_operator_reads_are_listed_but_change_nothing():
    g = Genotype.from_dict(EXAMPLE)
    assert g.unread_inputs() == [
        (
            f"blocks[{b}].inputs.{field}",
            f"no operator of this block ({ops}) reads {what}; the connection is ignored "
            "(leave it out, or choose an operator that reads it)",
        )
        for b, field, ops, what in (
            (0, "left", "fc, efc", "a left/right pair"),
            (0, "right", "fc, efc", "a left/right pair"),
            (1, "dense", "gating, attention", "a dense input"),
        )
    ]
    assert g.canonical().unread_inputs() == []
    assert Genotype.from_dict(g.canonical().to_dict()).digest() == g.digest()


def test_genotypes_are_immutable():
    g = Genotype.from_dict(EXAMPLE)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        g.blocks[0].dense.dim = 3  # type: ignore[misc]  # the test: assigning to a frozen model raises
    assert json.loads(g.to_json())["blocks"][0]["dense"]["dim"] == 128


def test_active_digest_ignores_unused_blocks_only():
    g = Genotype.from_dict(EXAMPLE)
    assert g.active_blocks() == [1, 2, 4]
    other = copy.deepcopy(EXAMPLE)
    other["blocks"][2]["dense"]["dim"] = 1024  # block 3 is unused
    changed = Genotype.from_dict(other)
    assert changed.digest() != g.digest() and changed.active_digest() == g.active_digest()
    other["blocks"][3]["dense"]["dim"] = 64  # block 4 is used
    assert Genotype.from_dict(other).active_digest() != g.active_digest()


def test_with_meta_checks_the_new_meta_as_from_dict_does_so_that_save_and_load_round_trip(tmp_path):
    """`with_meta` took a NaN (saved as null: the loaded genotype differed) and a numpy float (which `save` then
    failed to write); `from_dict` refuses both."""
    import numpy as np

    from nasrec.genotype import load, save

    g = Genotype.from_dict(EXAMPLE)
    for value, why in (
        (float("nan"), "Out of range float values are not JSON compliant"),
        (np.float32(0.5), "Object of type float32 is not JSON serializable"),
    ):
        message = f"meta: must be plain JSON (finite numbers, strings, lists, objects): {why}"
        with pytest.raises(GenotypeError) as info:
            g.with_meta(score=value)
        assert str(info.value) == message
        with pytest.raises(GenotypeError) as info:
            Genotype.from_dict({**EXAMPLE, "meta": {"score": value}})
        assert str(info.value) == message
    scored = g.with_meta(score=0.5, note="kept")
    assert scored.meta == {"name": "example", "score": 0.5, "note": "kept"} and scored.blocks == g.blocks
    assert load(save(scored, tmp_path / "g.json")) == scored
