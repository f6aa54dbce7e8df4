"""Liveness per operator: which parts of each block reach the head; the live form behind `active_digest`."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given

from nasrec.genotype import Genotype, get_signature, load
from nasrec.genotype.zoo import load_zoo
from tests.genotype.liveness_helpers import dead_twins
from tests.genotype.strategies import genotypes
from tests.genotype.test_schema import EXAMPLE

REF = Path(__file__).parents[1] / "data" / "nasrec_ref"


def test_example_by_hand() -> None:
    """EXAMPLE: block 2's gating output is read by no later block (block 3 is dead, block 4 reads dense
    [0, 1]), but its attention tokens are (block 4 reads sparse [0, 2])."""
    g = Genotype.from_dict(EXAMPLE)
    lv = g.liveness()
    assert [x.live for x in lv] == [True, True, False, True]
    assert (lv[0].dense_ops, lv[0].sparse_ops, lv[0].dense_to_sparse) == (True, True, True)
    assert (lv[1].dense_out, lv[1].dense_ops, lv[1].sparse_out, lv[1].sparse_ops) == (False, False, True, True)
    assert lv[1].dead_parts(g.blocks[1]) == ["dense gating"]
    assert lv[2].dead_parts(g.blocks[2]) == ["dense sum", "sparse efc"]
    assert g.active_blocks() == [1, 2, 4]
    form = g.live_form()
    assert form[1] == {
        "sparse": {"ops": ["attention"], "dim": 16},
        "inputs": {"sparse": [1]},
        "dense_to_sparse": False,
        "sparse_to_dense": False,
    }
    assert form[2] is None


@pytest.mark.parametrize(
    ("name", "dead"),
    [
        ("avazu_ea_avazu_kaggle_autoctr", {4: ["dense_to_sparse"], 5: ["dense_to_sparse"]}),
        ("avazu_ea_avazu_kaggle_xlarge", {}),
        ("criteo_ea_criteo_kaggle_autoctr", {3: ["sparse efc", "dense_to_sparse"]}),
        ("criteo_ea_criteo_kaggle_xlarge", {}),
        ("kdd_ea_kdd_kaggle_autoctr", {6: ["sparse efc"]}),
        ("kdd_ea_kdd_kaggle_xlarge", {3: ["dense gating"]}),
    ],
)
def test_dead_parts_of_the_published_models(name: str, dead: dict[int, list[str]]) -> None:
    g = load(REF / f"{name}_best_1shot.json")
    found = {
        k: lv.dead_parts(b)
        for k, (b, lv) in enumerate(zip(g.canonical().blocks, g.liveness(), strict=True), start=1)
        if lv.live and lv.dead_parts(b)
    }
    assert found == dead


def test_dlrm_efc_branches_are_dead() -> None:
    g = load_zoo("dlrm")
    assert [k for k, lv in enumerate(g.liveness(), start=1) if not lv.sparse_ops] == [1, 2, 3, 4, 5, 6]


@given(genotypes())
def test_liveness_is_what_the_head_reads(sg) -> None:
    """Restated without the graph: every output a live branch (or the head) reads is live, and every live
    output of a block is read by a live branch of a later block or by the head."""
    _, g = sg
    g, lv = g.canonical(), g.liveness()
    n = g.num_blocks
    read = {(n, "dense"), (n, "sparse")}
    for k, block in enumerate(g.blocks, start=1):
        for branch in ("dense", "sparse"):
            if getattr(lv[k - 1], f"{branch}_ops"):
                reads = set().union(*(get_signature(op).reads for op in getattr(block, branch).ops))
                ins = block.inputs
                read |= {(s, "dense") for s in ins.dense or ()} if "dense" in reads else set()
                read |= {(s, "sparse") for s in ins.sparse or ()} if "sparse" in reads else set()
                read |= {(ins.left, "dense"), (ins.right, "dense")} if "pair" in reads else set()
    for k, (block, x) in enumerate(zip(g.blocks, lv, strict=True), start=1):
        assert x.dense_out == ((k, "dense") in read) and x.sparse_out == ((k, "sparse") in read)
        assert x.dense_to_sparse == (block.dense_to_sparse and x.sparse_out)
        assert x.sparse_to_dense == (block.sparse_to_dense and x.dense_out)
        assert x.dense_ops == (x.dense_out or x.dense_to_sparse)
        assert x.sparse_ops == (x.sparse_out or x.sparse_to_dense)
    assert all((lv[-1].dense_ops, lv[-1].sparse_ops))
    assert g.active_blocks() == [k for k, x in enumerate(lv, start=1) if x.live]


@given(genotypes())
def test_genotypes_differing_only_in_a_dead_part_share_active_digest(sg) -> None:
    space, g = sg
    twins = dead_twins(g, space)
    assume(twins)
    for what, twin in twins:
        assert twin.digest() != g.digest(), what
        assert twin.active_digest() == g.active_digest(), what
        assert twin.live_form() == g.live_form(), what


def test_a_live_part_changes_active_digest() -> None:
    g = Genotype.from_dict(EXAMPLE)
    blocks = [b.model_dump() for b in g.blocks]
    blocks[1]["sparse"]["dim"] = 32  # block 2's attention is live
    assert Genotype.from_dict({"schema_version": 1, "blocks": blocks}).active_digest() != g.active_digest()
    blocks = [b.model_dump() for b in g.blocks]
    blocks[1]["dense"]["dim"] = 32  # its gating is dead
    assert Genotype.from_dict({"schema_version": 1, "blocks": blocks}).active_digest() == g.active_digest()
