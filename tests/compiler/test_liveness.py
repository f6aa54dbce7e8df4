"""The compiler builds, counts and runs only what reaches the head, and skips a projection's LayerNorm with it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nasrec.compiler import OpInputs, Supernet, compile_standalone
from nasrec.compiler.context import DenseSource, OpSpec, SparseSource
from nasrec.compiler.operators import MERGER_OPERATORS
from nasrec.compiler.operators.dot import num_tokens
from nasrec.compiler.registry import get_operator
from nasrec.data.spec import preset
from nasrec.genotype import Genotype, SearchSpace, load, sample
from tests.compiler.helpers import PRESET_SPACES as SPACES
from tests.compiler.helpers import SMALL, assert_equivalent, batch, preset_supernet, randomise
from tests.genotype.liveness_helpers import dead_twins

REF = sorted((Path(__file__).parents[1] / "data" / "nasrec_ref").glob("*.json"))


def _with_gradient(model: torch.nn.Module) -> int:
    return sum(
        p.numel()
        for n, p in model.named_parameters()
        if not n.startswith("embedding.") and p.grad is not None and p.grad.abs().sum() > 0
    )


@pytest.mark.parametrize("path", REF, ids=lambda p: p.stem)
@pytest.mark.parametrize("layernorm", [False, True], ids=["no-ln", "ln"])
def test_every_dense_parameter_of_a_published_model_gets_a_gradient(path: Path, layernorm: bool) -> None:
    features = preset(path.name.split("_")[0], cap=1000)
    torch.manual_seed(0)
    model = compile_standalone(load(path), features, layernorm=layernorm)
    dense, sparse, _ = batch(features, n=32)
    model(dense, sparse).sum().backward()
    assert model.num_dense_params() == _with_gradient(model) > 0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(space=st.sampled_from(sorted(SPACES)), seed=st.integers(0, 2**31 - 1))
def test_dead_parts_are_not_built_and_do_not_change_the_function(space: str, seed: int) -> None:
    """Every parameter a view or standalone model holds is on the path to the logit; a genotype changed only
    in a dead part computes the same logits with the same parameters."""
    g = sample(SPACES[space], "single-operator-any-connection", seed)
    twins = dead_twins(g, SPACES[space])
    assume(twins)
    net = preset_supernet(space, layernorm=True)
    dense, sparse, _ = batch(SMALL)
    model = compile_standalone(g, SMALL, inherit=net)
    model(dense, sparse).sum().backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if not n.startswith("embedding."))
    view = net.view(g)
    assert view.num_dense_params() == model.num_dense_params()
    for what, twin in twins[:: max(1, len(twins) // 3)]:  # a few of them, first to last (they are slow)
        other = net.view(twin)
        assert set(other.slices()) == set(view.slices()), what
        torch.testing.assert_close(other(dense, sparse), view(dense, sparse), msg=what)


# -- the reference's skipped-projection rule, LayerNorm on -------------------------------------------------
def _dot_by_hand(p: dict, d: torch.Tensor, s: torch.Tensor, dim: int) -> torch.Tensor:
    """The reference's Dot-Product from its parts, with a projection (and LayerNorm) only where present."""
    ln = torch.nn.functional.layer_norm
    if "dense_w" in p:
        d = ln(d @ p["dense_w"].T, (16,), p["dense_ln_g"], p["dense_ln_beta"])
    t = s.transpose(1, 2)
    if "tok_w" in p:
        t = ln(t @ p["tok_w"].T, (p["tok_w"].shape[0],), p["tok_ln_g"], p["tok_ln_beta"])
    tokens = torch.cat([d[:, None], t.transpose(1, 2)], 1)
    k1 = tokens.shape[1]
    pairs = torch.stack([(tokens[:, i] * tokens[:, j]).sum(-1) for i in range(k1) for j in range(i)], 1)
    return ln(pairs @ p["out_w"].T, (dim,), p["ln_g"], p["ln_beta"])


@pytest.mark.parametrize(
    ("width", "tokens", "skipped"), [(16, 5, {"dense"}), (3, 8, {"tok"}), (16, 8, {"dense", "tok"}), (3, 5, set())]
)
def test_dot_skips_a_projection_with_its_layernorm(width: int, tokens: int, skipped: set[str]) -> None:
    dim = 32
    assert num_tokens(dim) == 8
    spec = OpSpec(dim=dim, dense=(DenseSource(1, width),), sparse=(SparseSource(1, tokens),), layernorm=True)
    module = get_operator("dot").build(spec)
    randomise(module, seed=1)
    expected = {"out_w", "ln_g", "ln_beta"}
    for part in {"dense", "tok"} - skipped:
        expected |= {f"{part}_w", f"{part}_ln_g", f"{part}_ln_beta"}
    assert set(module.defs) == expected
    d, s = torch.randn(4, width), torch.randn(4, tokens, 16)
    torch.testing.assert_close(module(OpInputs(dense=d, sparse=s)), _dot_by_hand(module.param_dict(), d, s, dim))


def test_fm_merger_at_16_is_the_raw_fm_term() -> None:
    s = torch.randn(4, 6, 16)
    fm = s.sum(1).square() - s.square().sum(1)
    raw = MERGER_OPERATORS["sparse_to_dense"].build(OpSpec(dim=16, layernorm=True))
    assert raw.defs == {}
    torch.testing.assert_close(raw(OpInputs(sparse=s)), fm)
    projected = MERGER_OPERATORS["sparse_to_dense"].build(OpSpec(dim=32, layernorm=True))
    assert set(projected.defs) == {"proj_w", "ln_g", "ln_beta"}
    p = projected.param_dict()
    torch.testing.assert_close(
        projected(OpInputs(sparse=s)),
        torch.nn.functional.layer_norm(fm @ p["proj_w"].T, (32,), p["ln_g"], p["ln_beta"]),
    )


SKIPS = SearchSpace(
    name="skips", num_blocks=3, dense_ops=("fc", "dot"), sparse_ops=("efc",), dense_dims=(16, 32), sparse_dims=(8,)
)
SKIPPING = Genotype.from_dict(
    {
        "schema_version": 1,
        "space": "skips",
        "blocks": [
            {
                "dense": {"ops": ["fc"], "dim": 16},
                "sparse": {"ops": ["efc"], "dim": 8},
                "inputs": {"dense": [0], "sparse": [0]},
                "sparse_to_dense": True,
            },  # FM at D = 16
            {
                "dense": {"ops": ["dot"], "dim": 32},
                "sparse": {"ops": ["efc"], "dim": 8},
                "inputs": {"dense": [1], "sparse": [1]},
            },  # w = 16, N = 8 = k
            {
                "dense": {"ops": ["fc"], "dim": 16},
                "sparse": {"ops": ["efc"], "dim": 8},
                "inputs": {"dense": [2], "sparse": [2, 1]},
            },
        ],
    }
)


def test_skipped_paths_in_a_standalone_model_and_its_view() -> None:
    model = compile_standalone(SKIPPING, SMALL, layernorm=True)
    assert model.blocks["b1"]["sparse_to_dense"].defs == {}
    assert set(model.blocks["b2"]["dense_dot"].defs) == {"out_w", "ln_g", "ln_beta"}
    net = Supernet(SKIPS, SMALL, layernorm=True)
    randomise(net, seed=5)
    assert_equivalent(net, SKIPPING, SMALL)
    view = net.view(SKIPPING)
    assert not any(
        n.startswith(("blocks.b1.sparse_to_dense.", "blocks.b2.dense_dot.dense", "blocks.b2.dense_dot.tok"))
        for n in view.slices()
    )


def test_norm_raw_fm_option_keeps_the_fm_layernorm_at_16() -> None:
    """The option the search's supernet training uses (docs/compiler.md): LayerNorm on the raw FM term."""
    s = torch.randn(4, 6, 16)
    fm = s.sum(1).square() - s.square().sum(1)
    module = MERGER_OPERATORS["sparse_to_dense"].build(OpSpec(dim=16, layernorm=True, norm_raw_fm=True))
    assert set(module.defs) == {"ln_g", "ln_beta"}
    p = module.param_dict()
    expected = torch.nn.functional.layer_norm(fm, (16,), p["ln_g"], p["ln_beta"])
    torch.testing.assert_close(module(OpInputs(sparse=s)), expected)
    assert MERGER_OPERATORS["sparse_to_dense"].build(OpSpec(dim=16, layernorm=False, norm_raw_fm=True)).defs == {}
    net = Supernet(SKIPS, SMALL, layernorm=True, norm_raw_fm=True)
    randomise(net, seed=6)
    assert_equivalent(net, SKIPPING, SMALL)
    model = compile_standalone(SKIPPING, SMALL, inherit=net)
    assert set(model.blocks["b1"]["sparse_to_dense"].defs) == {"ln_g", "ln_beta"}
    with pytest.raises(ValueError, match=r"^norm_raw_fm=False but the supernet was built with norm_raw_fm=True$"):
        compile_standalone(SKIPPING, SMALL, inherit=net, norm_raw_fm=False)
