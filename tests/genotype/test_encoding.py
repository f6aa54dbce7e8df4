"""The reference tokenizer's encoding: its length for both presets, and one block counted by hand."""

from __future__ import annotations

import numpy as np
from hypothesis import given

from nasrec.genotype import NASREC_FULL, NASREC_SMALL, Block, BranchChoice, Genotype, Inputs, sample
from nasrec.genotype.encoding import reference_token_length, reference_tokens
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
