"""NasRec-ref files compile into standalone models that follow the reference's layer rules; export; cost."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nasrec.compiler import compile_standalone, cost
from nasrec.compiler.operators.dot import num_tokens
from nasrec.data.spec import fold_index, preset
from nasrec.genotype import load
from tests.compiler.helpers import SMALL, batch

REF = sorted((Path(__file__).parents[1] / "data" / "nasrec_ref").glob("*.json"))
SHAPES = {"criteo": (13, 26), "avazu": (1, 23), "kdd": (3, 10)}


def features_of(path: Path):
    return preset(path.name.split("_")[0], cap=1000)


@pytest.mark.parametrize("path", REF, ids=lambda p: p.stem)
@pytest.mark.parametrize("layernorm", [True, False], ids=["ln", "no-ln"])
def test_ref_file_follows_layer_rules(path: Path, layernorm: bool) -> None:
    features = features_of(path)
    assert (features.n_dense, features.n_sparse) == SHAPES[path.name.split("_")[0]]
    g = load(path)
    model = compile_standalone(g, features, layernorm=layernorm)
    assert [bp.k for bp in model.plan.blocks] == g.active_blocks()
    for bp in model.plan.blocks:
        mods = model.blocks[f"b{bp.k}"]
        block = g.blocks[bp.k - 1]
        for ref in bp.refs:
            defs, spec = mods[ref.key].defs, ref.spec
            has_ln = any(n.endswith("_g") and not n.startswith(("ln1", "ln2")) for n in defs)
            assert has_ln == layernorm or not defs, (bp.k, ref.key)
            name = ref.key.split("_", 1)[1] if ref.key.startswith(("dense_", "sparse_")) else ref.key
            if name == "fc":
                assert defs["fc_w"].shape == (block.dense.dim, spec.dense_width)
                assert ("fc_b" in defs) == (not layernorm)
            elif name in ("sum", "gating"):
                skipped = spec.pair_width == block.dense.dim
                assert ("proj_w" in defs) != skipped
                if name == "gating":
                    assert defs["gate_w"].shape == (spec.pair_width, spec.pair_width) and "gate_b" in defs
                    assert "proj_b" in defs or skipped
                elif not skipped:
                    assert ("proj_b" in defs) == (not layernorm)
            elif name == "dot":
                k = num_tokens(block.dense.dim)
                assert defs["out_w"].shape == (block.dense.dim, k * (k + 1) // 2)
                assert ("dense_w" in defs) == (spec.dense_width != 16)
                assert ("dense_ln_g" in defs) == (layernorm and spec.dense_width != 16)  # goes with it
                assert ("tok_w" in defs) == (spec.tokens != k)
                assert ("tok_ln_g" in defs) == (layernorm and spec.tokens != k)
            elif name in ("efc", "attention"):
                assert defs["tok_w"].shape == (block.sparse.dim, spec.tokens)
                assert ("tok_b" in defs) == (not layernorm)
                if name == "attention":
                    assert torch.allclose(mods[ref.key].ln1_g, torch.full((16,), 0.17))
                    assert {"qkv_b", "attn_out_b", "ff1_b", "ff2_b", "ln2_g"} <= set(defs)
            elif name == "dense_to_sparse":
                assert ("proj_w" in defs) == (block.dense.dim != 128)
            elif name == "sparse_to_dense":
                assert ("proj_w" in defs) == (block.dense.dim != 16)
                assert ("ln_g" in defs) == (layernorm and block.dense.dim != 16)  # the raw FM term at 16
    last = g.blocks[-1]
    tokens = last.sparse.dim + 8 * last.dense_to_sparse
    assert model.head.defs["head_w"].shape == (1, last.dense.dim + 16 * tokens)
    dense, sparse, _ = batch(features, n=4)
    assert model(dense, sparse).shape == (4,)


def test_criteo_full_concrete_layers() -> None:
    """criteo xlarge block 1: Gating + Attention, D = 128 from the 13 raw dense features, dense-to-sparse on."""
    g = load(REF[[p.name for p in REF].index("criteo_ea_criteo_kaggle_xlarge_best_1shot.json")])
    model = compile_standalone(g, preset("criteo", cap=1000), layernorm=True)
    b1 = model.blocks["b1"]
    assert b1["dense_gating"].defs["gate_w"].shape == (13, 13)
    assert b1["dense_gating"].defs["proj_w"].shape == (128, 13)
    assert b1["sparse_attention"].defs["tok_w"].shape == (64, 26)
    assert b1["dense_to_sparse"].defs == {}  # D == 128: reshaped directly, no Linear, no LayerNorm


@pytest.mark.parametrize("path", REF, ids=lambda p: p.stem)
def test_ref_cost_close_to_reference_readme(path: Path) -> None:
    readme = {
        "criteo_ea_criteo_kaggle_autoctr": 2.20,
        "criteo_ea_criteo_kaggle_xlarge": 1.45,
        "avazu_ea_avazu_kaggle_autoctr": 3.08,
        "avazu_ea_avazu_kaggle_xlarge": 1.87,
        "kdd_ea_kdd_kaggle_autoctr": 3.48,
        "kdd_ea_kdd_kaggle_xlarge": 1.09,
    }
    c = cost(load(path), features_of(path), layernorm=False)
    expected = readme[path.stem.removesuffix("_best_1shot")]
    assert abs(c.flops_ref / 1e6 - expected) / expected < 0.01
    assert c.flops > c.flops_ref  # element-wise work on top
    assert c.dense_params > 0 and c.embedding_params == sum(features_of(path).table_rows) * 16


def test_torch_export_standalone() -> None:
    g = load(REF[0])
    features = features_of(REF[0])
    model = compile_standalone(g, features).eval()
    dense, sparse, _ = batch(features, n=4)
    ep = torch.export.export(model, (dense, sparse))
    torch.testing.assert_close(ep.module()(dense, sparse), model(dense, sparse))


def test_embedding_index_rule_and_sparse_grads() -> None:
    from nasrec.compiler import FeatureEmbedding
    from nasrec.compiler.embedding import PerFieldEmbedding

    emb = FeatureEmbedding(SMALL)
    idx = torch.tensor([[0, 1, 49, 50], [51, 99, 100, 12345], [-1, -49, -50, -12345]])
    folded = emb.fold(idx)
    assert folded.tolist() == [[fold_index(int(i), 50) for i in row] for row in idx]
    assert folded[2].tolist() == [48, 49, 48, 3]  # negative ids stay in their field (rows 1..49)
    out = emb(idx)
    assert out.shape == (3, 4, 16)
    out.sum().backward()
    assert emb.table.weight.grad.is_sparse
    per_field = PerFieldEmbedding(SMALL)
    with torch.no_grad():
        for f, t in enumerate(per_field.tables):
            t.weight.copy_(emb.table.weight[f * 50 : (f + 1) * 50])
    torch.testing.assert_close(per_field(idx), emb(idx))


def test_readme_and_docs_carry_the_current_parity_table() -> None:
    """README.md and docs/compiler.md show what `benchmarks/ref_models.py` prints now."""
    import runpy

    root = Path(__file__).parents[2]
    rows = runpy.run_path(str(root / "benchmarks" / "ref_models.py"))["rows"]()
    assert len(rows) == 8
    for doc in ("README.md", "docs/compiler.md"):
        text = (root / doc).read_text()
        missing = [row for row in rows if row not in text.splitlines()]
        assert not missing, f"{doc} is out of date; rerun benchmarks/ref_models.py: {missing}"
