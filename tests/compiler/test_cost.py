"""`cost()`: every operator's FLOPs against hand counts, the reference convention, embedding lookups."""

from __future__ import annotations

import pytest
import torch

from nasrec.compiler import compile_standalone, cost, count_flops
from nasrec.data.spec import preset
from nasrec.genotype import Genotype
from nasrec.genotype.zoo import load_zoo
from tests.compiler.helpers import SMALL, batch

E = 16  # SMALL: 3 dense features, 4 sparse fields of 16 dims

TWO_BLOCKS = Genotype.from_dict(
    {
        "schema_version": 1,
        "blocks": [
            {
                "dense": {"ops": ["gating"], "dim": 32},
                "sparse": {"ops": ["attention"], "dim": 16},
                "inputs": {"sparse": [0], "left": 0, "right": 0},
                "sparse_to_dense": True,
            },
            {
                "dense": {"ops": ["fc"], "dim": 16},
                "sparse": {"ops": ["efc"], "dim": 16},
                "inputs": {"dense": [1], "sparse": [0, 1]},
                "dense_to_sparse": True,
                "sparse_to_dense": True,
            },
        ],
    }
)
# (every operator, reference convention), per example, counted by hand
TWO_BLOCKS_PARTS = {
    # Linear_ww 3 x 3, the product sigmoid(.) * right (3), Linear(3 -> 32)
    "b1.dense_gating": (9 + 3 + 3 * 32, 9 + 3 * 32),
    # tokens 4 -> 16 (E x 16 x 4), qkv (16 tokens x 16 x 48), QK^T and AV (8 heads x 16 x 16 x (2 + 2)),
    # out projection and feed-forward (3 x 16 x 16 x 16), two residual adds (2 x 16 x 16)
    "b1.sparse_attention": (
        E * 16 * 4 + 16 * 16 * 48 + 8 * 16 * 16 * 4 + 3 * 16**3 + 2 * 16 * 16,
        E * 16 * 4 + 16 * 16 * 48 + 8 * 16 * 16 * 4 + 3 * 16**3,
    ),
    # FM over 16 tokens: sum (15 x E adds), its square (E), squares (16 x E), their sum (15 x E), the
    # difference (E) = 3 x 16 x E; then Linear(16 -> 32)
    "b1.sparse_to_dense": (3 * 16 * E + 16 * 32, 16 * 32),
    "b2.dense_fc": (32 * 16, 32 * 16),
    "b2.sparse_efc": (E * 16 * (4 + 16), E * 16 * (4 + 16)),  # tokens 20 -> 16
    "b2.dense_to_sparse": (16 * 128, 16 * 128),
    "b2.sparse_to_dense": (3 * 16 * E, 0),  # D == 16: the raw FM term, no Linear
    "head": (16 + E * (16 + 8), 16 + E * (16 + 8)),
    "joins": (32 + 16, 0),  # the FM terms added to the dense outputs (D = 32, then 16)
}

MULTI_OP = Genotype.from_dict(
    {
        "schema_version": 1,
        "blocks": [
            {
                "dense": {"ops": ["dot", "sum"], "dim": 16},
                "sparse": {"ops": ["efc"], "dim": 16},
                "inputs": {"dense": [0], "sparse": [0], "left": 0, "right": 0},
            },
        ],
    }
)
MULTI_OP_PARTS = {
    # k = round(sqrt(32)) = 6: dense 3 -> 16, tokens 4 -> 6 (E x 6 x 4), bmm of 7 tokens (7 x 7 x E),
    # Linear(21 pairs -> 16); the pair index arithmetic is on integers and not counted
    "b1.dense_dot": (3 * 16 + E * 6 * 4 + 7 * 7 * E + 21 * 16,) * 2,
    "b1.dense_sum": (3 + 3 * 16, 3 * 16),  # left + right (3), Linear(3 -> 16)
    "b1.sparse_efc": (E * 16 * 4,) * 2,
    "head": (16 + E * 16,) * 2,
    "joins": (16, 0),  # dot + sum
}


@pytest.mark.parametrize(
    ("genotype", "parts"), [(TWO_BLOCKS, TWO_BLOCKS_PARTS), (MULTI_OP, MULTI_OP_PARTS)], ids=["two-blocks", "multi-op"]
)
def test_flops_of_every_operator_match_a_hand_count(genotype: Genotype, parts: dict) -> None:
    c = cost(genotype, SMALL)
    assert dict(c.parts) == {name: every for name, (every, _) in parts.items()}
    assert c.flops == sum(every for every, _ in parts.values())
    assert c.flops_ref == sum(ref for _, ref in parts.values())
    model = compile_standalone(genotype, SMALL)
    dense, sparse, _ = batch(SMALL, n=1)
    assert count_flops(model, (dense, sparse)) == c.flops
    assert count_flops(model, (dense, sparse), convention="reference") == c.flops_ref


def test_flops_do_not_depend_on_layernorm_or_weights() -> None:
    assert cost(TWO_BLOCKS, SMALL, layernorm=False).flops == cost(TWO_BLOCKS, SMALL).flops
    assert cost(TWO_BLOCKS, SMALL, layernorm=False).dense_params < cost(TWO_BLOCKS, SMALL).dense_params


def test_embedding_lookups_are_a_separate_figure() -> None:
    features = preset("criteo", cap=1000)
    c = cost(load_zoo("dlrm"), features)
    assert c.embedding_lookups == 26 and c.embedding_params == sum(features.table_rows) * 16
    assert cost(MULTI_OP, SMALL).embedding_lookups == 4


def test_unknown_convention_is_named() -> None:
    with pytest.raises(ValueError, match=r"^unknown FLOP convention 'fvcore' \(all, reference\)$"):
        count_flops(torch.nn.Linear(2, 2), (torch.zeros(1, 2),), convention="fvcore")


def test_the_count_of_a_model_built_by_a_norm_raw_fm_supernet_includes_its_raw_fm_norms():
    from nasrec.compiler import Supernet
    from nasrec.data.spec import FeatureSpec
    from nasrec.genotype import NASREC_FULL, sample

    features = FeatureSpec.synthetic(3, [50] * 4)
    net = Supernet(NASREC_FULL, features, norm_raw_fm=True)
    differ = 0
    for seed in range(6):
        g = sample(NASREC_FULL, rng=seed)
        built = compile_standalone(g, features, inherit=net).num_dense_params()
        assert cost(g, features, norm_raw_fm=True).dense_params == built
        differ += cost(g, features).dense_params != built
    assert differ  # the raw FM term's LayerNorm is in some of them: without it the count is short
