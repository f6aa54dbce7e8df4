"""The ranking study's diagnostics (benchmarks/rank_diagnostics.py) on tables whose answers are known."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from rank_diagnostics import combined, curve_agreement, twin_agreement, without_worst

from nasrec.evaluators.base import Score, SeedRun
from nasrec.evaluators.study_records import StudyScore
from nasrec.genotype import sample
from tests.benchmarks.tables import entry, seed_run
from tests.spaces import TINY


def run(final: float, curve: list[tuple[int, float]]) -> SeedRun:
    return seed_run(final, curve)


def test_the_curve_agreement_reads_one_seeds_best_so_far_against_the_other_seeds_final():
    # seed 0 ranks the genotypes backwards at step 10 and rightly at step 20; seed 1 validated at step 10 only
    table = [
        entry(run(1.0, [(10, 3.0), (20, 0.1)]), run(1.0, [(10, 1.0)])),
        entry(run(2.0, [(10, 2.0), (20, 0.2)]), run(2.0, [(10, 2.0)])),
        entry(run(3.0, [(10, 1.0), (20, 0.3)]), run(3.0, [(10, 3.0)])),
    ]
    first, last = curve_agreement(table)
    assert (first["step"], first["share_of_cap"], first["n"]) == (10, 0.5, 3)
    assert first["kendall_tau"] == pytest.approx([-1.0, 1.0]) and first["mean"] == pytest.approx(0.0)
    assert (last["step"], last["share_of_cap"]) == (20, 1.0)
    assert last["kendall_tau"] == pytest.approx([1.0, 1.0])


def test_the_curve_agreement_needs_three_genotypes_with_two_runs():
    with pytest.raises(SystemExit, match="need at least 3 genotypes with two reference runs, the table has 1"):
        curve_agreement([entry(run(1.0, [(10, 1.0)]), run(1.0, [(10, 1.0)])), entry(run(1.0, [(10, 1.0)]))])


def record(label: str, digest: str, value: float) -> StudyScore:
    score = Score(log_loss=value, auc=None, examples=1, seconds=0.0, evaluator=label.split("/")[0])
    return StudyScore(label=label, digest=digest, genotype=sample(TINY, rng=0), score=score)


def test_without_worst_drops_the_genotypes_the_reference_ranks_worst():
    reference = dict(zip("abcde", [1.0, 2.0, 3.0, 4.0, 5.0], strict=True))
    swapped = dict(zip("abcde", [1.0, 2.0, 3.0, 5.0, 4.0], strict=True))  # wrong only on the worst two
    records = [record(f"full/seed{i}", d, v) for i in (0, 1) for d, v in reference.items()]
    records += [record("p/fast", d, v) for d, v in swapped.items()]
    records += [record("p/none", d, -v) for d, v in reference.items() if d != "e"]
    records += [record("p/none", "e", 0.0).model_copy(update={"score": None, "error": "diverged"})]  # left out
    result = without_worst(records, drops=(0, 1, 2, 3))
    assert result["genotypes"] == 5 and result["reference_seeds"] == pytest.approx([1.0] * 4)
    assert result["proxies"]["p/fast"] == pytest.approx([0.8, 1.0, 1.0, None])
    assert result["proxies"]["p/none"] == pytest.approx([-1.0, -1.0, -1.0, None])  # d=3 leaves two scored


def test_twin_agreement_compares_two_supernets_scores_of_the_same_genotypes():
    reference = dict(zip("abcde", [1.0, 2.0, 3.0, 4.0, 5.0], strict=True))
    records = [record(f"full/seed{i}", d, v) for i in (0, 1) for d, v in reference.items()]
    records += [record("p/none", d, v) for d, v in reference.items()]
    twin = [record("p/none", d, -v) for d, v in reference.items() if d != "a"]  # reversed; one genotype missing
    twin += [record("full/seed0", d, 0.0) for d in "abcde"]  # the twin's reference records are not read
    assert twin_agreement(records, twin) == {"p/none": {"n": 4, "between": -1.0, "vs_reference": [1.0, -1.0]}}


def test_combined_averages_ranks_and_keeps_the_best_combinations():
    reference = dict(zip("abcd", [1.0, 2.0, 3.0, 4.0], strict=True))
    records = [record(f"full/seed{i}", d, v) for i in (0, 1) for d, v in reference.items()]
    records += [record("p/one", d, v) for d, v in zip("abcd", [2.0, 1.0, 3.0, 4.0], strict=True)]  # a, b swapped
    records += [record("p/two", d, v) for d, v in zip("abcd", [1.0, 2.0, 4.0, 3.0], strict=True)]  # c, d swapped
    records += [record("p/bad", d, -v) for d, v in reference.items()]  # backwards
    result = combined(records, sizes=(2, 3), top=2)
    assert result["genotypes"] == 4 and result["combinations"] == {"2": 3, "3": 1}
    assert result["single"] == [{"proxies": ["p/two"], "kendall_tau": pytest.approx(2 / 3)}]
    # ranks 2,1,3,4 + 1,2,4,3 = 3,3,7,7: right apart from two ties, tau-b 0.8165
    assert result["2"][0] == {"proxies": ["p/one", "p/two"], "kendall_tau": pytest.approx(0.8164966)}
    assert [c["proxies"] for c in result["3"]] == [["p/one", "p/two", "p/bad"]]
