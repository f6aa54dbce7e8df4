import pytest
from hypothesis import given
from hypothesis import strategies as st

from nasrec.errors import UsageError
from nasrec.genotype import NASREC_FULL, NASREC_SMALL, Genotype
from nasrec.search.base import build_strategy, list_strategies
from nasrec.search.evolution import RegularizedEvolution
from tests.genotype.strategies import small_spaces
from tests.search.formula import FormulaEvaluator

formula = FormulaEvaluator()


def drive(strategy, batch=3, stop_after=None):
    told = 0
    while not strategy.done and (stop_after is None or told < stop_after):
        asked = strategy.ask(batch)
        assert asked, "a strategy that is not done must ask while nothing is outstanding"
        for g, s in zip(asked, formula.evaluate(asked), strict=True):
            strategy.tell(g, s.log_loss)
            told += 1
    return told


@pytest.mark.parametrize("name", list_strategies())
def test_every_registered_strategy_asks_valid_unique_genotypes_and_finishes(name):
    strategy = build_strategy(
        name,
        NASREC_SMALL,
        seed=1,
        **({"population": 10, "cycles": 4, "tournament": 5, "children": 3} if name == "evolution" else {"budget": 22}),
    )
    seen = []
    while not strategy.done:
        asked = strategy.ask(4)
        for g in asked:
            NASREC_SMALL.check(g)
            seen.append(g.digest())
            strategy.tell(g, formula.evaluate([g])[0].log_loss)
    assert len(seen) == len(set(seen)) == 22


@given(small_spaces(), st.integers(0, 2**31), st.sampled_from(["evolution", "random"]))
def test_strategies_only_ask_valid_genotypes_of_their_space(space, seed, name):
    options = {"population": 6, "cycles": 3, "tournament": 3, "children": 2} if name == "evolution" else {"budget": 12}
    strategy = build_strategy(name, space, seed=seed, **options)
    try:
        while not strategy.done:
            for g in strategy.ask(2):
                space.check(g)
                strategy.tell(g, formula.evaluate([g])[0].log_loss)
    except UsageError as exc:  # tiny spaces run out of new genotypes: said clearly
        assert "no acceptable new genotype" in str(exc)
        assert space.cardinality(multi_op=True) < 200


def test_evolution_uses_the_papers_defaults_and_budget():
    evo = RegularizedEvolution(NASREC_FULL)
    assert (evo.population_size, evo.cycles, evo.tournament, evo.children) == (128, 240, 64, 8)
    assert evo.budget == 2048


def test_evolution_ages_out_and_improves():
    evo = RegularizedEvolution(NASREC_FULL, seed=0, population=20, cycles=30, tournament=10, children=4)
    assert drive(evo) == 140
    assert len(evo.population) == 20
    initial = sorted(s for _, s in evo.history[:20])
    assert evo.best()[1] < initial[0]  # evolution found something better than the initial population's best
    # aging: the population is exactly the 20 most recent members
    assert [d for d, _ in evo.history[-20:]] == [Genotype.from_dict(g).digest() for g, _ in evo.population]


def test_constraints_reject_before_evaluation():
    too_wide = lambda g: "dense dim 1024" if any(b.dense.dim == 1024 for b in g.blocks) else None  # noqa: E731
    strategy = build_strategy("random", NASREC_FULL, seed=0, budget=30, constraints=[too_wide])
    asked = strategy.ask(30)
    assert len(asked) == 30 and all(b.dense.dim != 1024 for g in asked for b in g.blocks)
    assert strategy.proposer.rejected > 0


def test_unknown_strategy_named():
    with pytest.raises(ValueError, match=r"unknown search strategy 'annealing' \(known: evolution, random\)"):
        build_strategy("annealing", NASREC_FULL)
