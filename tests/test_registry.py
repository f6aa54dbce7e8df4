"""The one `Registry`: its own behaviour, and every entry of every registry of nasrec through the same checks
(timm style: an operator, sampler, mutation, strategy or evaluator is tested the moment it is registered)."""

from __future__ import annotations

import warnings

import pytest
from pydantic import BaseModel, ValidationError

from nasrec.compiler import compile_standalone
from nasrec.compiler.registry import IMPLEMENTATIONS
from nasrec.errors import UsageError
from nasrec.evaluators import EVALUATORS, Evaluator, build_evaluator
from nasrec.genotype import Genotype, mutate, sample
from nasrec.genotype.mutation import MUTATIONS
from nasrec.genotype.operators import OPERATORS
from nasrec.genotype.sampling import SAMPLERS
from nasrec.registry import Registry, UnknownNameError
from nasrec.search.base import STRATEGIES, build_strategy
from tests.compiler.helpers import SMALL, batch
from tests.spaces import TINY

REGISTRIES: dict[str, Registry] = {
    r.kind: r for r in (OPERATORS, IMPLEMENTATIONS, SAMPLERS, MUTATIONS, STRATEGIES, EVALUATORS)
}


def _operator(name: str, sig) -> None:
    assert sig.name == name and sig.branch in ("dense", "sparse") and sig.reads and sig.label
    assert IMPLEMENTATIONS.get(name).branch == sig.branch  # every signature has an implementation


def _implementation(name: str, op) -> None:
    sig = OPERATORS.get(name)
    assert (op.name, op.branch, op.reads) == (name, sig.branch, sig.reads)  # declared once, in the signature
    dense, sparse = (name,) if sig.branch == "dense" else ("fc",), (name,) if sig.branch == "sparse" else ("efc",)
    reads = set(sig.reads) | {"dense", "sparse"}
    block = {
        "dense": {"ops": dense, "dim": 16},
        "sparse": {"ops": sparse, "dim": 4},
        "inputs": {"dense": [0], "sparse": [0], **({"left": 0, "right": 0} if "pair" in reads else {})},
    }
    model = compile_standalone(Genotype.from_dict({"schema_version": 1, "blocks": [block]}), SMALL)
    dense_in, sparse_in, _ = batch(SMALL, n=3)
    assert model(dense_in, sparse_in).shape == (3,)


def _sampler(name: str, fn) -> None:
    g = sample(TINY, name, 0)
    assert TINY.check(g) is g and g.canonical() == g and g == sample(TINY, name, 0)


def _mutation(name: str, fn) -> None:
    parent = sample(TINY, "single-operator-any-connection", 1)
    child = mutate(parent, 2, TINY, kind=name)
    assert child.meta["mutation"] == name and child.digest() != parent.digest()
    TINY.check(child)


def _strategy(name: str, factory) -> None:
    assert issubclass(factory.Options, BaseModel)
    for module in getattr(factory, "requires", ()):  # a plug-in's extra (e.g. optuna) may not be installed
        pytest.importorskip(module)
    assert all(field in factory.Options.model_fields for field in getattr(factory, "GROWABLE", ()))
    asked = build_strategy(name, TINY, seed=0).ask(2)
    assert len(asked) >= 2 and all(TINY.check(g) for g in asked)


def _evaluator(name: str, factory) -> None:
    assert factory.name == name  # scores record this name; build_evaluator(name) must rebuild the same kind
    assert issubclass(factory.Config, BaseModel)
    config = {"data": "sample:criteo"}  # building loads nothing: a missing supernet is an error of evaluate()
    if "supernet" in factory.Config.model_fields:
        config["supernet"] = "missing/checkpoint.pt"
    evaluator = build_evaluator(name, config)
    assert isinstance(evaluator, Evaluator) and evaluator.name == name
    # the config a score records is whole (every setting, defaults included) and rebuilds the same evaluator
    assert set(evaluator.config) == set(factory.Config.model_fields) and evaluator.config["data"] == "sample:criteo"
    assert build_evaluator(name, evaluator.config).config == evaluator.config
    with pytest.raises(ValidationError, match="no_such_setting"):
        build_evaluator(name, {**config, "no_such_setting": 1})


CHECKS = {
    "operator": _operator,
    "operator implementation": _implementation,
    "sampler": _sampler,
    "mutation": _mutation,
    "search strategy": _strategy,
    "evaluator": _evaluator,
}
ENTRIES = [(kind, name) for kind, registry in REGISTRIES.items() for name in registry.names()]


def test_every_registry_is_checked() -> None:
    assert set(CHECKS) == set(REGISTRIES)
    assert {kind for kind, _ in ENTRIES} == set(REGISTRIES)


@pytest.mark.parametrize(("kind", "name"), ENTRIES, ids=[f"{k}:{n}" for k, n in ENTRIES])
def test_every_registered_entry(kind: str, name: str) -> None:
    registry = REGISTRIES[kind]
    entry = registry.get(name)
    assert registry.names(name) == [name] and name in repr(registry)
    CHECKS[kind](name, entry)


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_unknown_names_are_one_error_listing_the_known_ones(kind: str) -> None:
    registry = REGISTRIES[kind]
    with pytest.raises(UnknownNameError) as info:
        registry.get("no-such-name")
    assert str(info.value) == f"unknown {kind} 'no-such-name' (known: {', '.join(registry.names())})"
    assert isinstance(info.value, UsageError) and isinstance(info.value, LookupError)


def test_unknown_operator_in_a_genotype_names_its_path() -> None:
    block = {
        "dense": {"ops": ["fcx"], "dim": 4},
        "sparse": {"ops": ["efc"], "dim": 4},
        "inputs": {"dense": [0], "sparse": [0]},
    }
    with pytest.raises(ValueError, match=r"^blocks\[0\]\.dense\.ops\[0\]: unknown operator 'fcx' \(known: fc, "):
        Genotype.from_dict({"schema_version": 1, "blocks": [block]})


# -- the Registry itself --------------------------------------------------------------------------------
def test_register_as_decorator_or_call_get_names_and_errors() -> None:
    reg: Registry[object] = Registry("widget")

    @reg.register("a")
    def a() -> int:
        return 1

    b = reg.register("b-2", object())
    assert reg.get("a") is a and reg.get("b-2") is b and reg.names() == ["a", "b-2"] and reg.names("b*") == ["b-2"]
    assert repr(reg) == "Registry('widget': a, b-2)"
    with pytest.raises(ValueError, match=r"^widget 'a' is already registered$"):
        reg.register("a")(a)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg.register("a", b, overwrite=True)
    assert reg.get("a") is b and [str(w.message) for w in caught] == ["widget 'a' overwritten"]
    with pytest.raises(UnknownNameError, match=r"^unknown widget 'c' \(known: a, b-2\)$"):
        reg.get("c")
    reg.unregister("a")
    reg.unregister("a")  # absent: nothing to do
    assert reg.names() == ["b-2"]


def test_get_takes_a_default_as_dict_get_does_and_without_one_unknown_names_still_raise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`Registry` is a dict, but `EVALUATORS.get("nope", None)` was a TypeError ("takes 2 positional arguments but
    3 were given")."""
    assert EVALUATORS.get("nope", None) is None and EVALUATORS.get("nope", "x") == "x"
    assert EVALUATORS.get("params", None) is EVALUATORS["params"] and EVALUATORS.get(name="nope", default=3) == 3
    with pytest.raises(UnknownNameError, match=r"^unknown evaluator 'nope' \(known: "):
        EVALUATORS.get("nope")
    reg: Registry[str] = Registry("plug-in", "nasrec.test-plugins")

    class EntryPoint:
        def load(self) -> None:
            reg["late"] = "x"

    monkeypatch.setattr("nasrec.registry.entry_points", lambda group: [EntryPoint()])
    assert reg.get("late", None) == "x"  # a default only once the plug-ins are loaded too
    assert reg.get("other", None) is None
    with pytest.raises(UnknownNameError, match=r"^unknown plug-in 'other' \(known: late\)$"):
        reg.get("other")


def test_entry_points_are_loaded_on_first_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    reg: Registry[str] = Registry("plug-in", "nasrec.test-plugins")
    loaded = []

    class EntryPoint:
        def load(self) -> None:
            reg["late"] = "x"
            loaded.append(1)

    monkeypatch.setattr(
        "nasrec.registry.entry_points", lambda group: [EntryPoint()] if group == "nasrec.test-plugins" else []
    )
    assert reg.get("late") == "x" and loaded == [1]
    reg.names()
    assert loaded == [1]  # loaded once
