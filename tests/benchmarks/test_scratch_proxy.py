"""The short-scratch-training proxy (benchmarks/scratch_proxy.py) on a tiny table: trained, logged, resumed."""

import json
import sys
from pathlib import Path

import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from scratch_proxy import reference_of, scratch_proxy

from nasrec.errors import UsageError
from nasrec.evaluators.ranking import agreement
from nasrec.genotype import sample
from tests.benchmarks.tables import entry, seed_run
from tests.spaces import TINY


def test_reference_of_prefers_regret():
    assert reference_of(entry(seed_run(0.5, regret=0.1), seed_run(0.4, regret=0.3))) == pytest.approx(0.2)
    assert reference_of(entry(seed_run(0.5), seed_run(0.4))) == pytest.approx(0.45)


def test_every_genotype_is_trained_once_per_budget_and_a_rerun_resumes(tmp_path):
    genotypes = [sample(TINY, rng=i) for i in range(3)]
    table = [entry(*[seed_run(0.5 + i / 10)] * 2, genotype=g) for i, g in enumerate(genotypes)]
    table.append(entry(seed_run(0.5), genotype=genotypes[0], digest="one-run"))  # one run: left out
    result = scratch_proxy(table, "sample:criteo", [0.05, 0.1], seed=100, out=tmp_path)
    log = (tmp_path / "scores.jsonl").read_text().splitlines()
    assert len(log) == 6 and result["genotypes"] == 3
    short, longer = result["budgets"]["0.05"], result["budgets"]["0.1"]
    assert 0 < short["steps"] < longer["steps"]
    assert short["agreement"]["n"] == 3 and -1 <= short["agreement"]["kendall_tau"] <= 1
    # each budget's agreement is the logged scores' against the reference (the runs' mean log loss, in table order)
    logged = {(s["epochs"], s["digest"]): s["log_loss"] for s in map(json.loads, log)}
    reference = [0.5 + i / 10 for i in range(3)]
    for budget, summary in result["budgets"].items():
        proxy = [logged[(float(budget), g.digest())] for g in genotypes]
        assert summary["agreement"] == agreement(proxy, reference).model_dump()
        assert summary["agreement"]["kendall_tau"] == pytest.approx(stats.kendalltau(proxy, reference).statistic)
    assert (short["done"], short["failed"]) == (3, 0)
    again = scratch_proxy(table, "sample:criteo", [0.05, 0.1], seed=100, out=tmp_path)
    assert (tmp_path / "scores.jsonl").read_text().splitlines() == log and again == result
    # summarising a log that holds one budget's scores only: that budget alone, nothing trained
    (tmp_path / "scores.jsonl").write_text("\n".join(log[:3]) + "\n")
    partial = scratch_proxy(table, "sample:criteo", [0.05, 0.1], seed=100, out=tmp_path, train=False)
    assert list(partial["budgets"]) == ["0.05"] and len((tmp_path / "scores.jsonl").read_text().splitlines()) == 3
    with pytest.raises(UsageError, match=r"holds another scratch-proxy's config \(different seed\)"):
        scratch_proxy(table, "sample:criteo", [0.05, 0.1], seed=7, out=tmp_path, train=False)  # not mixed in
