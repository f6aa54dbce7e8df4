import itertools

import pytest

from nasrec.genotype import NASREC_FULL, NASREC_SMALL, Block, Genotype, GenotypeError, SearchSpace, get_space, sample


def test_presets_are_the_papers():
    assert NASREC_SMALL.dense_ops == ("fc", "dot") and NASREC_SMALL.sparse_ops == ("efc",)
    assert NASREC_FULL.dense_ops == ("fc", "gating", "sum", "dot")
    assert NASREC_FULL.sparse_ops == ("efc", "attention")
    for s in (NASREC_SMALL, NASREC_FULL):
        assert s.num_blocks == 7
        assert s.dense_dims == (16, 32, 64, 128, 256, 512, 768, 1024)
        assert s.sparse_dims == (16, 32, 48, 64)
        assert s.mergers == ("dense_to_sparse", "sparse_to_dense")
        assert s.max_inputs is None


def test_full_space_cardinality_exact_figure():
    assert NASREC_FULL.cardinality() == 4882607866022041718919035424677560320
    assert NASREC_SMALL.cardinality() == 439858301877044936623412320665600


def test_space_json_round_trip(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(NASREC_FULL.model_dump_json())
    assert get_space(str(path)) == NASREC_FULL
    with pytest.raises(GenotypeError, match=r"unknown search space 'nope'"):
        get_space("nope")
    path.write_text(
        '{"name": "x", "num_blocks": 2, "dense_ops": ["efc"], "sparse_ops": ["efc"], '
        '"dense_dims": [4], "sparse_dims": [4]}'
    )
    with pytest.raises(GenotypeError, match=r"dense_ops\[0\]: 'efc' is a sparse operator"):
        get_space(str(path))


def test_check_names_what_is_outside_the_space():
    g = sample(NASREC_FULL, rng=0)
    with pytest.raises(GenotypeError, match=r"^blocks: has 7 blocks, space 'nasrec-small' has 7|is not in space"):
        NASREC_SMALL.check(g)
    small = NASREC_FULL.model_copy(update={"dense_dims": (16,), "num_blocks": 7})
    with pytest.raises(GenotypeError, match=r"blocks\[\d\]\.dense\.dim: \d+ is not a dense dim of space"):
        small.check(
            sample(NASREC_FULL, rng=1).model_copy(
                update={
                    "blocks": tuple(
                        b.model_copy(update={"dense": b.dense.model_copy(update={"dim": 64})})
                        for b in sample(NASREC_FULL, rng=1).blocks
                    )
                }
            )
        )
    short = NASREC_FULL.model_copy(update={"num_blocks": 3})
    with pytest.raises(GenotypeError, match=r"^blocks: has 7 blocks, space 'nasrec-full' has 3$"):
        short.check(g)
    capped = NASREC_FULL.model_copy(update={"max_inputs": 1})
    wide = sample(NASREC_FULL, "all-operators", 0)
    with pytest.raises(
        GenotypeError, match=r"inputs\.(dense|sparse): \d sources, space 'nasrec-full' allows at most 1"
    ):
        capped.check(wide)
    no_mergers = NASREC_FULL.model_copy(update={"mergers": ()})
    with pytest.raises(GenotypeError, match=r"(dense_to_sparse|sparse_to_dense): merger not searchable"):
        no_mergers.check(wide)


def _all_genotypes(space: SearchSpace, multi_op: bool):
    """Brute force: every raw field combination of every block, all inputs set."""

    def op_sets(ops):
        if not multi_op:
            return [(o,) for o in ops]
        return [c for r in range(1, len(ops) + 1) for c in itertools.combinations(ops, r)]

    per_block = []
    for k in range(1, space.num_blocks + 1):
        subsets = [c for r in range(1, space.max_sources(k) + 1) for c in itertools.combinations(range(k), r)]
        flags = [
            dict(zip(space.mergers, bits, strict=True))
            for bits in itertools.product([False, True], repeat=len(space.mergers))
        ]
        per_block.append(
            [
                Block(
                    dense={"ops": d, "dim": dd},
                    sparse={"ops": s, "dim": sd},
                    inputs={"dense": di, "sparse": si, "left": left, "right": right},
                    **f,
                )
                for d, s, dd, sd, di, si, left, right, f in itertools.product(
                    op_sets(space.dense_ops),
                    op_sets(space.sparse_ops),
                    space.dense_dims,
                    space.sparse_dims,
                    subsets,
                    subsets,
                    range(k),
                    range(k),
                    flags,
                )
            ]
        )
    for blocks in itertools.product(*per_block):
        yield Genotype(blocks=blocks)


@pytest.mark.parametrize(
    "space, multi_op",
    [
        (
            SearchSpace(
                name="a",
                num_blocks=2,
                dense_ops=("fc", "gating", "dot"),
                sparse_ops=("efc",),
                dense_dims=(2,),
                sparse_dims=(1,),
                mergers=(),
            ),
            False,
        ),
        (
            SearchSpace(
                name="b",
                num_blocks=2,
                dense_ops=("fc", "sum"),
                sparse_ops=("efc", "attention"),
                dense_dims=(2, 3),
                sparse_dims=(1,),
                mergers=("sparse_to_dense",),
            ),
            False,
        ),
        (
            SearchSpace(
                name="c",
                num_blocks=3,
                dense_ops=("gating", "dot"),
                sparse_ops=("efc",),
                dense_dims=(2,),
                sparse_dims=(1,),
                mergers=(),
                max_inputs=1,
            ),
            False,
        ),
        (
            SearchSpace(
                name="d",
                num_blocks=2,
                dense_ops=("fc", "sum"),
                sparse_ops=("efc", "attention"),
                dense_dims=(2,),
                sparse_dims=(1,),
                mergers=(),
            ),
            True,
        ),
    ],
)
def test_cardinality_equals_brute_force_enumeration(space, multi_op):
    digests = {g.digest() for g in _all_genotypes(space, multi_op)}
    assert space.cardinality(multi_op=multi_op) == len(digests)


def test_an_operator_outside_the_space_is_named_at_its_place_in_the_document():
    g = sample(NASREC_SMALL, rng=3)
    blocks = list(g.blocks)
    blocks[0] = blocks[0].model_copy(update={"dense": blocks[0].dense.model_copy(update={"ops": ("dot", "fc")})})
    fc_only = NASREC_SMALL.model_copy(update={"dense_ops": ("fc",)})
    with pytest.raises(GenotypeError, match=r"^blocks\[0\]\.dense\.ops\[0\]: 'dot' is not in space 'nasrec-small'"):
        fc_only.check(g.model_copy(update={"blocks": tuple(blocks)}))


@pytest.mark.parametrize(
    ("field", "values", "path"),
    [("dense_dims", [16, 32, 16], r"dense_dims\[2\]: 16"), ("mergers", ["dense_to_sparse"] * 2, r"mergers\[1\]")],
)
def test_a_space_that_lists_a_choice_twice_is_refused(field, values, path):
    with pytest.raises(GenotypeError, match=rf"{path}.* is listed twice"):
        SearchSpace.from_dict({**NASREC_SMALL.model_dump(), field: values})


def test_a_genotype_drawn_from_a_space_file_names_the_file_and_later_commands_find_it(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from nasrec.cli.genotype import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "myspace.json").write_text(NASREC_SMALL.model_copy(update={"name": "tiny"}).model_dump_json())
    g = sample("myspace.json", rng=0)
    assert g.space == "myspace.json" and sample("nasrec-small", rng=0).space == "nasrec-small"
    runner = CliRunner()
    assert runner.invoke(app, ["sample", "--space", "myspace.json", "-o", "a.json"]).exit_code == 0
    for command in (["validate", "a.json"], ["mutate", "a.json", "-o", "b.json"], ["validate", "b.json"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
