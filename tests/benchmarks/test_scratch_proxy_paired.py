"""`scratch_proxy.py --paired`: one budget's tau minus another log's, on the genotypes both scored."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from scratch_proxy import ProxyScore, paired_with

from nasrec.state import append_jsonl
from tests.benchmarks.tables import entry, seed_run


def _log(out: Path, scores: dict[str, float]) -> Path:
    out.mkdir()
    for digest, value in scores.items():
        append_jsonl(
            out / "scores.jsonl",
            ProxyScore(epochs=1.0, digest=digest, log_loss=value, regret=None, steps=10, seconds=1.0),
        )
    return out


def test_the_paired_difference_is_over_the_genotypes_both_logs_scored(tmp_path):
    digests = [f"g{i}" for i in range(5)]
    table = [entry(*[seed_run(0.40 + i / 100)] * 2, digest=d) for i, d in enumerate(digests)]  # reference order
    same = _log(tmp_path / "same", {d: 1.0 + i for i, d in enumerate(digests)})  # tau +1
    reversed_ = _log(tmp_path / "reversed", {d: 1.0 - i for i, d in enumerate(digests[:4])})  # tau -1, g4 missing
    result = {"budgets": {"1.0": {}}}
    paired_with(result, table, same, reversed_)
    p = result["budgets"]["1.0"]["paired_with"]
    assert (p["n"], p["difference"], p["out"]) == (4, pytest.approx(2.0), str(reversed_))
    assert p["low"] <= 2.0 <= p["high"]
