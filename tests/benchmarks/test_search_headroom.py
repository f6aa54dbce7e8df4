"""benchmarks/search_headroom.py: what a search could gain over random search, from a ranking study's tables."""

import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from search_headroom import held_out, load, modelled, power, seed_agreement, seed_sd, true_scores

from nasrec.evaluators.base import Score
from nasrec.evaluators.study_records import StudyScore
from nasrec.genotype import sample
from tests.benchmarks.tables import entry, seed_run

GENOTYPE = sample("nasrec-full", "single-operator-any-connection", 0).to_dict()


def study_score(label: str, digest: str, log_loss: float) -> str:
    """One line of a ranking study's scores.jsonl."""
    score = Score(log_loss=log_loss, auc=0.7, examples=100, seconds=1.0, evaluator="finetune")
    return StudyScore(label=label, digest=digest, genotype=GENOTYPE, score=score).model_dump_json()


def args(**kw) -> Namespace:
    return Namespace(**{"budget": 1000, "top_k": 1, "draws": 2000, "seed": 0, **kw})


def test_load_keeps_genotypes_with_a_proxy_score_and_the_run_count_most_have(tmp_path: Path):
    reference, scores = tmp_path / "reference.jsonl", tmp_path / "scores.jsonl"
    ref_lines, score_lines = [], []
    for i in range(12):
        runs = [seed_run(0.4 + i / 100 + s / 1000, seed=s) for s in range(3 if i else 2)]  # g0: 2 runs
        ref_lines.append(entry(*runs, digest=f"g{i}").model_dump_json())
        if i != 11:  # no proxy score: left out
            score_lines.append(study_score("sn/fast", f"g{i}", 1 - i / 100))
    score_lines.append(study_score("other", "g11", 0.1))
    reference.write_text("\n".join(ref_lines))
    scores.write_text("\n".join(score_lines))
    proxy, runs = load(reference, scores, "sn/fast", "log_loss")
    assert runs.shape == (10, 3)  # g0 (2 runs) and g11 (no proxy score) left out
    np.testing.assert_allclose(proxy, [1 - i / 100 for i in range(1, 11)])
    np.testing.assert_allclose(runs[2], [0.43, 0.431, 0.432])
    with pytest.raises(SystemExit, match="no scores labelled 'missing'"):
        load(reference, scores, "missing", "log_loss")


def test_noiseless_table_a_perfect_proxy_leaves_no_headroom_and_a_reversed_one_all_of_it():
    truth = np.linspace(0.40, 0.49, 10)
    runs = np.stack([truth, truth], axis=1)
    assert seed_sd(runs) == 0.0
    np.testing.assert_allclose(true_scores(runs, 0.0), truth)  # nothing to shrink
    perfect = modelled(truth, runs, args(), picked_by=1)
    assert perfect["headroom"] == 0.0 and perfect["random_pick"] == pytest.approx(0.40)
    reversed_ = modelled(-truth, runs, args(), picked_by=1)  # the proxy's best is the worst genotype
    assert reversed_["headroom"] == pytest.approx(0.09)
    free = held_out(-truth, runs, args(), picked_by=1)
    assert free == pytest.approx({"by_runs": 0.49, "by_proxy": 0.49, "at_random": 0.49, "exhaustive_by_runs": 0.40})


def test_one_run_picks_an_unstable_genotype_for_its_lucky_run():
    """Two shortlisted genotypes: a stable one (0.45, 0.45) and an unstable worse one (0.40, 0.60). Picked by
    one run, the unstable one wins whenever its lucky run picks (then scores 0.60 on the other): expected 0.525,
    worse than a coin flip between them (0.475)."""
    proxy = np.array([0.0, 0.0])
    runs = np.array([[0.45, 0.45], [0.40, 0.60]])
    result = held_out(proxy, runs, args(top_k=2), picked_by=1)
    assert result["by_runs"] == pytest.approx(0.525, abs=0.01)
    assert result["exhaustive_by_runs"] == pytest.approx(0.525, abs=0.01)
    assert result["at_random"] == pytest.approx(0.475, abs=0.01)
    assert result["by_proxy"] == pytest.approx(0.45)  # ties keep the table's order: the stable one first


def test_power_is_a_half_when_the_headroom_equals_the_half_width():
    assert power(0.004, 0.004, 0.002) == pytest.approx(0.5)
    assert power(0.0, 0.004, 0.002) == pytest.approx(0.02275, abs=1e-5)  # Phi(-2)
    assert power(0.008, 0.004, 0.002) == pytest.approx(0.97725, abs=1e-5)
    assert power(0.005, 0.004, 0.0) == 1.0 and power(0.003, 0.004, 0.0) == 0.0


def test_seed_agreement_ranks_each_seed_against_the_others():
    runs = np.array([[1.0, 1.0, 3.0], [2.0, 2.0, 2.0], [3.0, 3.0, 1.0]])  # seed 2 reverses seeds 0 and 1
    result = seed_agreement(runs)
    assert result["pairs"] == {"0-1": 1.0, "0-2": -1.0, "1-2": -1.0}
    assert result["each_vs_mean_of_others"]["2"] == -1.0
    assert result["each_vs_mean_of_others"]["0"] is None  # the mean of seeds 1 and 2 is constant
