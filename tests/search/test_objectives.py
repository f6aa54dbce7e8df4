"""Several objectives: non-dominated sorting and crowding against brute force, and the front a search reports
on a formula evaluator whose front is known."""

from __future__ import annotations

from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nasrec.errors import UsageError
from nasrec.evaluators.base import Score
from nasrec.genotype import Block, BranchChoice, Genotype, Inputs, SearchSpace
from nasrec.search.base import build_strategy, list_strategies
from nasrec.search.executors import InProcessExecutor
from nasrec.search.objectives import (
    crowding_distances,
    dominates,
    objective_values,
    pareto_front,
    pareto_ranks,
    parse_objectives,
    selection_order,
)
from nasrec.search.runner import run_search
from tests.search.test_strategies import small_options

points = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=30)


@given(points)
def test_the_front_is_exactly_the_points_no_other_point_dominates(pts):
    front = set(pareto_front(pts))
    assert front == {i for i, p in enumerate(pts) if not any(dominates(q, p) for q in pts)}
    assert not any(dominates(pts[i], pts[j]) for i in front for j in front)  # non-dominated


@given(points)
def test_ranks_peel_fronts_off_one_after_another(pts):
    ranks = pareto_ranks(pts)
    rest = list(range(len(pts)))
    rank = 0
    while rest:
        front = [rest[i] for i in pareto_front([pts[i] for i in rest])]
        assert all(ranks[i] == rank for i in front)
        rest, rank = [i for i in rest if i not in front], rank + 1
    assert selection_order(pts)[: len(pareto_front(pts))] == sorted(
        pareto_front(pts), key=lambda i: selection_order(pts).index(i)
    )


def test_crowding_distance_by_hand():
    pts = [(0.0, 4.0), (1.0, 2.0), (2.0, 1.0), (4.0, 0.0)]
    d = crowding_distances(pts)
    assert d[0] == d[3] == float("inf")
    assert d[1] == pytest.approx((2 - 0) / 4 + (4 - 1) / 4) and d[2] == pytest.approx((4 - 1) / 4 + (2 - 0) / 4)
    assert selection_order([(1.0, 1.0), (0.0, 2.0), (2.0, 2.0)]) == [0, 1, 2]


def test_objectives_are_parsed_and_checked():
    assert parse_objectives("logloss, flops") == ("logloss", "flops")
    with pytest.raises(UsageError, match=r"^unknown objective 'latency' \(known: logloss, flops, params\)$"):
        parse_objectives("logloss,latency")
    with pytest.raises(UsageError, match=r"^objectives must be logloss, then any of flops, params, each once"):
        parse_objectives("flops")


@pytest.mark.parametrize("name", list_strategies())
def test_a_strategy_and_a_search_refuse_bad_objectives_before_anything_is_logged(name, tmp_path):
    """`("logloss", "flop")` failed after the first evaluation was logged; `("flops",)` optimised log loss."""
    with pytest.raises(UsageError) as exc:
        build_strategy(name, LINE, objectives=("logloss", "flop"), **small_options(name))
    assert str(exc.value) == "unknown objective 'flop' (known: logloss, flops, params)"
    with pytest.raises(UsageError) as exc:
        build_strategy(name, LINE, objectives=("flops",), **small_options(name))
    assert str(exc.value) == "objectives must be logloss, then any of flops, params, each once; got flops"
    strategy = build_strategy(name, LINE, **small_options(name))
    with pytest.raises(UsageError) as exc:
        run_search(strategy, InProcessExecutor(TradeOff()), tmp_path / "log.jsonl", objectives=("logloss", "flop"))
    assert str(exc.value) == "unknown objective 'flop' (known: logloss, flops, params)"
    assert not (tmp_path / "log.jsonl").exists()


LINE = SearchSpace(
    name="line",
    num_blocks=1,
    dense_ops=("fc",),
    sparse_ops=("efc",),
    dense_dims=(1, 2, 4, 8, 16, 32),
    sparse_dims=(1, 2, 3),
    mergers=(),
)
"""6 x 3 = 18 genotypes: one FC and one EFC block."""


class TradeOff:
    """log loss falls with the dense dim and rises with the sparse dim; params grow with both: the known front
    is every dense dim with sparse dim 1 (6 genotypes)."""

    name = "tradeoff"
    config: ClassVar[dict] = {}

    def evaluate(self, genotypes):
        out = []
        for g in genotypes:
            (b,) = g.blocks
            loss = 0.5 - 0.01 * b.dense.dim.bit_length() + 0.002 * b.sparse.dim
            params = 10 * b.dense.dim + 3 * b.sparse.dim
            out.append(
                Score(log_loss=loss, auc=None, examples=1, params=params, flops=params, seconds=0, evaluator="t")
            )
        return out


def _genotype(d: int, s: int) -> Genotype:
    block = Block(
        dense=BranchChoice(ops=("fc",), dim=d),
        sparse=BranchChoice(ops=("efc",), dim=s),
        inputs=Inputs(dense=(0,), sparse=(0,)),
    )
    return Genotype(space="line", blocks=(block,)).canonical()


@pytest.mark.parametrize("name", list_strategies())
def test_a_search_reports_the_known_front_complete_and_non_dominated(name, tmp_path):
    assert LINE.cardinality() == 18
    options = small_options(name, population=18, cycles=0, tournament=3, budget=18, startup_trials=4)
    strategy = build_strategy(name, LINE, seed=0, objectives=("logloss", "params"), **options)
    records = run_search(
        strategy, InProcessExecutor(TradeOff()), tmp_path / "log.jsonl", objectives=("logloss", "params")
    )
    assert len(records) == 18  # every genotype of the space, each once
    pts = [objective_values(r.score, ("logloss", "params")) for r in records]
    front = {records[i].digest for i in pareto_front(pts)}
    assert front == {_genotype(d, 1).digest() for d in LINE.dense_dims}


WIDE = LINE.model_copy(update={"sparse_dims": (1, 2, 3, 4, 5, 6, 7, 8)})
"""6 x 8 = 48 genotypes; the same known front of 6."""


@pytest.mark.parametrize("name", list_strategies())
def test_a_guided_search_finds_the_known_front_with_fewer_evaluations_than_the_space_holds(name, tmp_path):
    """30 of the 48 genotypes, 4 seeds: each guided strategy reports the complete known front in at least 3,
    where random search with the same budget reports it in none (it has 5 % odds a seed)."""
    known = {_genotype(d, 1).digest() for d in WIDE.dense_dims}
    complete = 0
    for seed in range(4):
        options = small_options(name, population=8, cycles=11, tournament=3, children=2, budget=30, startup_trials=8)
        strategy = build_strategy(name, WIDE, seed=seed, objectives=("logloss", "params"), **options)
        log = tmp_path / f"{seed}.jsonl"
        records = run_search(strategy, InProcessExecutor(TradeOff()), log, objectives=("logloss", "params"))
        assert len(records) <= 30
        pts = [objective_values(r.score, ("logloss", "params")) for r in records]
        front = {records[i].digest for i in pareto_front(pts)}
        assert known & {r.digest for r in records} <= front  # every evaluated true front member is reported
        complete += front == known
    assert complete == 0 if name == "random" else complete >= 3
