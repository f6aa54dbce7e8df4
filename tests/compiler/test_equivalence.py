"""The central invariant: supernet.view(g) and compile_standalone(g, inherit=supernet) compute the same thing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasrec.compiler import Supernet
from nasrec.genotype import NASREC_FULL, list_samplers, sample
from tests.compiler.helpers import PRESET_SPACES as SPACES
from tests.compiler.helpers import SMALL, assert_equivalent, randomise
from tests.compiler.helpers import preset_supernet as supernet

# every sampler is drawn; "all-operators" (everything at max size, the costliest case, and nearly the same genotype
# whatever the seed) at a lower rate; test_full_and_single_op_both_layernorm_settings covers it explicitly
_WEIGHTED = [s for s in list_samplers() if s != "all-operators"] * 3 + ["all-operators"]
CASES = st.tuples(st.sampled_from(sorted(SPACES)), st.sampled_from(_WEIGHTED), st.integers(0, 2**31 - 1), st.booleans())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=CASES)
def test_view_equals_standalone(case: tuple[str, str, int, bool]) -> None:
    """Both presets, every sampler, LayerNorm on and off: outputs and gradients agree. The view runs
    in local-gradient mode here (cheap: exact-size gradients); the plain autograd path, whose gradients land in
    the supernet's parameters, is checked by the tests below and in test_operators.py."""
    space, sampler, seed, layernorm = case
    assert_equivalent(supernet(space, layernorm), sample(SPACES[space], sampler, seed), SMALL, local=seed % 4 != 0)


@pytest.mark.parametrize("space", sorted(SPACES))
@pytest.mark.parametrize("layernorm", [True, False], ids=["ln", "no-ln"])
def test_full_and_single_op_both_layernorm_settings(space: str, layernorm: bool) -> None:
    for sampler in ("all-operators", "single-operator-any-connection"):
        assert_equivalent(supernet(space, layernorm), sample(SPACES[space], sampler, 11), SMALL)


@pytest.mark.parametrize("sampler", list_samplers())
def test_every_sampler_criteo_shape(sampler: str) -> None:
    from nasrec.data.spec import preset

    features = preset("criteo", cap=64)
    net = _criteo_supernet(features)
    assert_equivalent(net, sample(NASREC_FULL, sampler, 3), features)


_CRITEO: list[Supernet] = []


def _criteo_supernet(features) -> Supernet:
    if not _CRITEO:
        net = Supernet(NASREC_FULL, features)
        randomise(net, seed=7)
        _CRITEO.append(net)
    return _CRITEO[0]


def test_shared_embedding_and_head_inputs() -> None:
    """One embedding lookup, several views on it; head inputs + head weights reproduce the logits."""
    import torch

    from nasrec.compiler import compile_standalone
    from tests.compiler.helpers import batch

    net = supernet("full", True)
    dense, sparse, _ = batch(SMALL)
    emb = net.embed(dense, sparse)
    for seed in range(3):
        g = sample(NASREC_FULL, "single-operator-any-connection", seed)
        view = net.view(g)
        feats = view.head_inputs(emb)
        last = g.blocks[-1]
        assert feats.shape == (6, last.dense.dim + 16 * (last.sparse.dim + 8 * last.dense_to_sparse))
        w, b = view.head_weights()
        torch.testing.assert_close(torch.nn.functional.linear(feats, w, b).squeeze(-1), view(dense, sparse))
        torch.testing.assert_close(net(dense, sparse, g), view.from_embedded(emb))
        model = compile_standalone(g, SMALL, inherit=net)
        torch.testing.assert_close(model.head_inputs(model.embed(dense, sparse)), feats, atol=1e-5, rtol=1e-5)
