"""A new operator from a plug-in module, found through the `nasrec.operators` entry-point group, is accepted
everywhere (validation, sampling, mutation, supernet, standalone, cost, drawing) with no edit to nasrec."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint

import pytest

import nasrec.registry
from nasrec.compiler import Supernet, compile_standalone, cost, list_operators, unregister_operator
from nasrec.compiler.registry import IMPLEMENTATIONS
from nasrec.genotype import Genotype, SearchSpace, list_samplers, mutate, sample
from nasrec.genotype.operators import ENTRY_POINT_GROUP, OPERATORS
from nasrec.viz.render import to_dot
from tests.compiler.helpers import SMALL, assert_equivalent, randomise

MODULE = "tests.compiler.toy_plugin"


@pytest.fixture
def toy_plugin(monkeypatch):
    ep = EntryPoint(name="toy", value=MODULE, group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(nasrec.registry, "entry_points", lambda group: [ep] if group == ENTRY_POINT_GROUP else [])
    for registry in (OPERATORS, IMPLEMENTATIONS):  # both read the operators' entry-point group
        monkeypatch.setattr(registry, "_loaded", False)
    sys.modules.pop(MODULE, None)
    yield
    unregister_operator("toy_tanh")
    sys.modules.pop(MODULE, None)


def test_plugin_operator_everywhere(toy_plugin) -> None:
    assert "toy_tanh" in list_operators()  # loaded on first use
    space = SearchSpace(
        name="toy",
        num_blocks=4,
        dense_ops=("fc", "toy_tanh"),
        sparse_ops=("efc",),
        dense_dims=(16, 32),
        sparse_dims=(4, 8),
    )
    net = Supernet(space, SMALL)
    randomise(net)
    seen = False
    for sampler in list_samplers():
        for seed in range(4):
            g = sample(space, sampler, seed)
            space.check(Genotype.from_json(g.to_json()))
            child = mutate(g, seed, space=space, kind="dense_op")
            for genotype in (g, child):
                seen |= any("toy_tanh" in b.dense.ops for b in genotype.blocks)
                assert_equivalent(net, genotype, SMALL)
    assert seen
    g = sample(space, "all-operators", 0)
    assert "FC +\\nToy-Tanh · 32" in to_dot(g)  # drawn with the label declared beside the operator
    assert cost(g, SMALL).flops > 0
    assert compile_standalone(g, SMALL)(*_inputs()).shape == (3,)


def test_plugin_cleanup_leaves_no_trace() -> None:
    assert "toy_tanh" not in list_operators()


def _inputs():
    from tests.compiler.helpers import batch

    dense, sparse, _ = batch(SMALL, n=3)
    return dense, sparse


def test_registering_an_operator_names_what_is_missing_or_taken() -> None:
    """A new name without branch=/reads= says so; a taken signature is refused unless overwrite=True, which
    replaces it, label and description included."""
    from nasrec.compiler import Operator, register_operator
    from nasrec.genotype.operators import get_signature

    with pytest.raises(ValueError, match=r"^operator 'toy_new' has no signature yet: give branch= and reads= to "):
        register_operator("toy_new")(type("ToyNew", (Operator,), {}))
    try:
        register_operator("toy_sig", branch="dense", reads={"dense"}, label="A")(type("A", (Operator,), {}))
        with pytest.raises(ValueError, match=r"^operator 'toy_sig' is already registered with a different .*True"):
            register_operator("toy_sig", branch="dense", reads={"pair"}, label="B")(type("B", (Operator,), {}))
        with pytest.warns(UserWarning, match="overwritten"):
            register_operator("toy_sig", branch="dense", reads={"pair"}, label="B", overwrite=True)(
                type("B", (Operator,), {})
            )
        assert (get_signature("toy_sig").label, get_signature("toy_sig").reads) == ("B", frozenset({"pair"}))
    finally:
        unregister_operator("toy_sig")
