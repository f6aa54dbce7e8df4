"""Budgets before evaluation (nothing over a budget is scored), and a finished run extended by a larger budget
equal to one long run with the same seed, for every registered strategy."""

from __future__ import annotations

import json

import pytest

from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.trivial import ParamsProxy
from nasrec.genotype import NASREC_SMALL
from nasrec.records import Evaluation
from nasrec.search.base import build_strategy, growable_options, list_strategies
from nasrec.search.executors import InProcessExecutor
from nasrec.search.limits import Limits
from nasrec.search.runner import run_search
from nasrec.state import read_jsonl
from tests.search.formula import FormulaEvaluator
from tests.search.test_strategies import small_options
from tests.spaces import TINY

LIMITS = Limits(max_flops=50_000, max_params=10_000)


def test_a_violation_names_the_count_and_the_budget():
    assert LIMITS.violation(60_000, 5_000) == "FLOPs 60,000 over the budget of 50,000"
    assert LIMITS.violation(40_000, 12_345) == "dense params 12,345 over the budget of 10,000"
    assert LIMITS.violation(50_000, 10_000) is None and str(LIMITS) == "FLOPs 50,000, dense params 10,000"
    assert Limits().constraints(open_data("sample:criteo").spec) == [] and str(Limits()) == "none"


@pytest.mark.parametrize("name", list_strategies())
def test_no_scored_genotype_exceeds_a_budget(name, tmp_path):
    evaluator = ParamsProxy(data="sample:criteo")  # prefers the largest models: the budget must hold them back
    options = small_options(
        name, population=4, cycles=1, tournament=2, children=2, budget=6, batch=2, surrogate="ridge"
    )
    options = {k: v for k, v in options.items() if k != "startup_trials"}
    strategy = build_strategy(name, TINY, seed=3, constraints=LIMITS.constraints(evaluator.spec), **options)
    stats = tmp_path / "stats.json"
    records = run_search(strategy, InProcessExecutor(evaluator), tmp_path / "log.jsonl", stats=stats)
    assert len(records) == 6
    assert all(r.score.flops <= 50_000 and r.score.params <= 10_000 for r in records)
    counted = json.loads(stats.read_text())
    assert counted["rejected"] == strategy.proposer.rejected > 0
    assert all("over the budget of" in why for why in counted["rejections"].values())
    assert not {r.digest for r in records} & set(counted["rejections"])  # rejected ones were never scored


@pytest.mark.parametrize("name", list_strategies())
def test_an_extended_run_equals_one_long_run_with_the_same_seed(name, tmp_path):
    (grows,) = growable_options(name)[:1]
    short, long = small_options(name, surrogate="ridge"), small_options(name, surrogate="ridge")
    long[grows] = short[grows] * 2 + 1

    def run(options, log):
        strategy = build_strategy(name, NASREC_SMALL, seed=5, **options)
        return run_search(strategy, InProcessExecutor(FormulaEvaluator()), log, parallel=2)

    whole = run(long, tmp_path / "whole.jsonl")
    first = run(short, tmp_path / "extended.jsonl")
    extended = run(long, tmp_path / "extended.jsonl")  # a fresh strategy with the larger budget, on the same log
    assert len(first) < len(extended) == len(whole)
    assert [r.digest for r in extended] == [r.digest for r in whole]  # the same genotypes, in the same order
    assert [r.index for r in read_jsonl(tmp_path / "extended.jsonl", Evaluation)] == list(range(len(whole)))


def test_the_budgets_count_the_model_as_the_final_one_is_built_layernorm_off_included():
    from nasrec.data import load_sample
    from nasrec.evaluators.scoring import flops_and_params
    from nasrec.genotype.zoo import load_zoo
    from nasrec.search.limits import Limits

    g, spec = load_zoo("dlrm"), load_sample("criteo").spec
    (_, with_ln), (_, without) = flops_and_params(g, spec), flops_and_params(g, spec, layernorm=False)
    (fits,) = Limits(max_params=without).constraints(spec, layernorm=False)
    (counts_ln,) = Limits(max_params=without).constraints(spec)
    assert without < with_ln and fits(g) is None and counts_ln(g).startswith("dense params")
