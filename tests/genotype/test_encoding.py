"""The reference tokenizer's encoding: its length for both presets, and one block counted by hand."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given

from nasrec.genotype import NASREC_FULL, NASREC_SMALL, Block, BranchChoice, Genotype, Inputs, sample
from nasrec.genotype.encoding import reference_operators, reference_token_length, reference_tokens
from tests.genotype.strategies import genotypes


def test_the_presets_have_the_references_lengths(nasrec_ref_files):
    assert reference_token_length(NASREC_FULL) == 280 and reference_token_length(NASREC_SMALL) == 259
    assert reference_tokens(sample(NASREC_FULL, rng=0), NASREC_FULL).shape == (280,)
    assert reference_tokens(sample(NASREC_SMALL, rng=0), NASREC_SMALL).shape == (259,)


def test_one_block_by_hand():
    block = Block(
        dense=BranchChoice(ops=("sum",), dim=64),
        sparse=BranchChoice(ops=("attention",), dim=48),
        inputs=Inputs(sparse=(0,), left=0, right=0),
        sparse_to_dense=True,
    )
    rest = sample(NASREC_FULL, rng=1).blocks[1:]
    tokens = reference_tokens(Genotype(space="nasrec-full", blocks=(block, *rest)), NASREC_FULL)
    # block 1's connections: dense (unread: node 0, as in NasRec-ref files), sparse {0}, left 0, right 0
    assert tokens[:28].tolist() == [1, 0, 0, 0, 0, 0, 0] * 4
    # block 1's micro part: fc dot gating sum attention efc | dense dim index | sparse dim index | mergers
    assert tokens[196:208].tolist() == [0, 0, 0, 1, 1, 0, 2, 2, 1, 0, 0, 1]


@given(genotypes())
def test_every_genotype_of_a_space_encodes_to_its_length_in_bits_and_indices(drawn):
    space, g = drawn
    tokens = reference_tokens(g, space)
    n = space.num_blocks
    assert tokens.shape == (reference_token_length(space),) and tokens.dtype == np.int64
    assert set(np.unique(tokens[: 4 * n * n])) <= {0, 1} and tokens.min() >= 0


def tokenize_reference_file(doc: dict, dense_dims: list[int], sparse_dims: list[int], num_nodes: int) -> list[int]:
    """The reference searcher's Tokenizer rule, applied to a NasRec-ref file as written (not through our
    genotype): per block 4 x N bits of sources; then per block `num_nodes` operator bits, the two dim indices and
    each merger as (1, 0) off or (0, 1) on."""
    n = doc["num_blocks"]
    out: list[int] = []
    for macro in doc["macro"]:
        for key in ("dense_idx", "sparse_idx", "dense_left_idx", "dense_right_idx"):
            out += [int(j in macro[key]) for j in range(n)]
    for micro in doc["micro"]:
        out += [int(i in micro["active_nodes"]) for i in range(num_nodes)]
        out += [dense_dims.index(micro["dense_in_dims"]), sparse_dims.index(micro["sparse_in_dims"])]
        for key in ("dense_sparse_interact", "deep_fm"):
            out += [0, 1] if micro[key] else [1, 0]
    return out


def test_the_six_reference_files_encode_as_the_reference_tokenizer_encodes_them(nasrec_ref_files):
    """Loaded as written (`canonical=False`), each file encodes exactly as the reference's tokenizer encodes the
    file; the default, canonical encoding is that rule applied to the file its canonical genotype writes (sources
    no chosen operator reads become node 0: every one of the six names some)."""
    from nasrec.genotype import get_space, load
    from nasrec.genotype.io import to_nasrec_ref

    for path in nasrec_ref_files:
        raw = json.loads(path.read_text())
        g = load(path)
        space = get_space(g.space)
        dims = list(space.dense_dims), list(space.sparse_dims), len(reference_operators(space))
        assert reference_tokens(g, space, canonical=False).tolist() == tokenize_reference_file(raw, *dims), path.name
        canonical = reference_tokens(g, space).tolist()
        assert canonical == tokenize_reference_file(to_nasrec_ref(g.canonical()), *dims), path.name
        assert canonical != tokenize_reference_file(raw, *dims)  # the unread sources differ


def test_the_genotype_command_prints_the_encoding(nasrec_ref_files):
    from typer.testing import CliRunner

    from nasrec.cli.genotype import app
    from nasrec.genotype import get_space, load

    path = nasrec_ref_files[0]
    g = load(path)
    outputs = []
    for flag, canonical in (("--canonical", True), ("--as-written", False)):
        result = CliRunner().invoke(app, ["encode", str(path), flag])
        assert result.exit_code == 0, result.output
        outputs.append(json.loads(result.stdout))
        assert outputs[-1] == reference_tokens(g, get_space(g.space), canonical).tolist()
    assert outputs[0] != outputs[1] and len(outputs[0]) == len(outputs[1]) == reference_token_length(get_space(g.space))
