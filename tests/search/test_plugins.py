"""Optuna's samplers come as a plug-in through the package's own `nasrec.strategies` entry point; the
predictor-guided evolution logs its surrogate's Kendall tau as the run goes."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from nasrec.genotype import NASREC_FULL
from nasrec.search.base import STRATEGIES, build_strategy
from nasrec.search.executors import InProcessExecutor
from nasrec.search.runner import run_search
from tests.search.formula import FormulaEvaluator

ROOT = Path(__file__).resolve().parents[2]


def test_optuna_is_declared_as_an_entry_point_and_an_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["nasrec.strategies"] == {"optuna": "nasrec.search.optuna_search"}
    assert any(req.startswith("optuna") for req in project["optional-dependencies"]["optuna"])
    import nasrec.search.optuna_search  # noqa: F401  (what the entry point loads: it registers "optuna")

    assert STRATEGIES.get("optuna").requires == ("optuna",)


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "random"])
def test_each_optuna_sampler_runs_and_replays_its_log(sampler, tmp_path):
    pytest.importorskip("optuna")
    options = {"sampler": sampler, "budget": 12, "batch": 4, "startup_trials": 4, "population": 4}

    def run(log, budget=None):
        strategy = build_strategy("optuna", NASREC_FULL, seed=2, **options)
        return run_search(strategy, InProcessExecutor(FormulaEvaluator()), log, budget=budget)

    whole = run(tmp_path / "a.jsonl")
    run(tmp_path / "b.jsonl", budget=6)  # stopped mid-round
    resumed = run(tmp_path / "b.jsonl")
    assert [r.digest for r in resumed] == [r.digest for r in whole] and len(whole) == 12


def test_the_predictor_logs_its_surrogates_kendall_tau_as_it_goes(tmp_path):
    strategy = build_strategy(
        "predictor-evolution", NASREC_FULL, seed=0, population=16, cycles=4, tournament=8, children=4, screen=4
    )
    stats = tmp_path / "stats.json"
    run_search(strategy, InProcessExecutor(FormulaEvaluator()), tmp_path / "log.jsonl", stats=stats)
    logged = json.loads(stats.read_text())
    assert logged["surrogate"] == "gbdt" and logged["rejected"] == 0
    assert [t["cycle"] for t in logged["kendall_tau"]] == [1, 2, 3, 4]
    assert [t["fitted_on"] for t in logged["kendall_tau"]] == [16, 20, 24, 28]
    assert [t["pairs"] for t in logged["kendall_tau"]] == [4, 8, 12, 16]
    assert logged["kendall_tau"][-1]["kendall_tau"] > 0.2  # the formula is learnable from the tokens
    within = [t["cycle_kendall_tau"] for t in logged["kendall_tau"]]  # 4 children each; None if they tie
    assert within[0] == logged["kendall_tau"][0]["kendall_tau"]  # after one cycle, the same pairs
    pooled = [t["kendall_tau"] for t in logged["kendall_tau"]]
    assert all(t is None or -1 <= t <= 1 for t in within) and within[1:] != pooled[1:]  # later: its own children


@pytest.mark.parametrize("parents", [1, 8])
def test_the_predictors_pool_mutates_as_many_tournament_winners_as_asked(parents, tmp_path, monkeypatch):
    import nasrec.search.evolution as evolution  # where every mutant is made (`mutant`)

    seen: list[str] = []  # the parent of every mutant, in order

    def mutate(parent, rng, space, **options):
        seen.append(parent.digest())
        return real(parent, rng, space, **options)

    real = evolution.mutate
    monkeypatch.setattr(evolution, "mutate", mutate)
    options = {"population": 16, "cycles": 2, "tournament": 8, "children": 4, "screen": 4, "parents": parents}

    def run(log, budget=None):
        strategy = build_strategy("predictor-evolution", NASREC_FULL, seed=0, **options)
        return run_search(strategy, InProcessExecutor(FormulaEvaluator()), log, budget=budget)

    whole = run(tmp_path / "a.jsonl")
    first_cycle = seen[:16]  # the pool is screen x children = 16 mutants
    assert len(set(first_cycle)) == 1 if parents == 1 else len(set(first_cycle)) > 1
    run(tmp_path / "b.jsonl", budget=22)  # stopped mid-cycle, then resumed: the same run
    assert [r.digest for r in run(tmp_path / "b.jsonl")] == [r.digest for r in whole] and len(whole) == 24
