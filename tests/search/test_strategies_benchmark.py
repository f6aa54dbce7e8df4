"""The strategies benchmark's machinery at a tiny budget: one seed, the tiny space, the formula evaluator."""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nasrec.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
STRATEGIES = ["random", "evolution", "predictor-evolution", "optuna"]


def run(tmp_path: Path, space: str, *extra: str) -> tuple[dict, subprocess.CompletedProcess]:
    out, result_file = tmp_path / "runs", tmp_path / "strategies.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "strategies.py"), "--space", space, "--out", str(out)]
    cmd += ["--json", str(result_file), "--seeds", "0", "--budget", "12", "--population", "4"]
    cmd += ["--tournament", "2", "--children", "4", "--evaluator", "tests.search.formula:FormulaEvaluator"]
    cmd += ["--recipe", "", *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(result_file.read_text()), done


def test_every_strategy_gets_the_same_budget_and_the_json_has_every_field(tmp_path, tiny_space_file):
    result, done = run(tmp_path, tiny_space_file)
    assert result["complete"] and result["command"].startswith("python benchmarks/strategies.py")
    assert result["wall_seconds"] > 0 and result["config"]["budget"] == 12
    runs = result["runs"]["0"]
    assert list(runs) == STRATEGIES
    for r in runs.values():
        assert r["evaluations"] == 12 and len(r["curve"]) == 12 and r["failed"] == 0
        assert r["curve"] == sorted(r["curve"], reverse=True) and r["best"] == r["curve"][-1]
    # one cache per seed: the three strategies that start from the same random samples share those scores
    assert sum(r["newly_scored"] for r in runs.values()) < 48
    assert sum(r["newly_scored"] + r["cache_hits"] for r in runs.values()) == 48
    assert runs["predictor-evolution"]["stats"]["surrogate"] == "gbdt"
    other = subprocess.run(  # another proxy into the same --out would read these scores from its cache: refused
        [
            sys.executable,
            str(ROOT / "benchmarks" / "strategies.py"),
            "--space",
            tiny_space_file,
            "--out",
            str(tmp_path / "runs"),
            "--json",
            str(tmp_path / "other.json"),
            "--recipe",
            "fast-std",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (
        other.returncode != 0 and "holds another strategies score cache's config (different evaluator, " in other.stderr
    )
    summary = result["summary"]
    assert summary["checkpoints"] == [3, 6, 9, 12] and set(summary["strategies"]) == set(STRATEGIES)
    reach = summary["predictor_reaches_evolution_best"]
    assert set(reach) >= {"evaluations", "fraction_mean", "target", "target_met"}
    assert "predictor-evolution reaches evolution's final best" in done.stdout

    again, _ = run(tmp_path, tiny_space_file)  # resumable: finished strategy x seed pairs are skipped
    assert again["runs"] == result["runs"]


def test_processes_that_split_the_seeds_keep_each_others_results(tmp_path, tiny_space_file):
    """Two processes sharing --json, each owning its seeds: the second one's write keeps the first one's seed
    even though it read the file before that seed was there (a run of seed 1 alone, then seed 0's result is
    saved from a state that never held seed 1)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from strategies import _save

    first, _ = run(tmp_path, tiny_space_file)  # seed 0, written to tmp_path / "strategies.json"
    args = argparse.Namespace(json=tmp_path / "strategies.json", seeds=[1], budget=12, strategies=STRATEGIES)
    mine = {k: v for k, v in first.items() if k not in ("runs", "seed_setup")}
    mine |= {"runs": {"1": first["runs"]["0"]}, "seed_setup": {"1": first["seed_setup"]["0"]}}
    merged = _save(args, mine)
    on_disk = json.loads((tmp_path / "strategies.json").read_text())
    assert on_disk == merged and set(on_disk["runs"]) == {"0", "1"} and on_disk["complete"]
    assert on_disk["summary"]["strategies"]["evolution"]["seeds"] == [1, 0]
    assert on_disk["seconds"]["total"] == 2 * first["seconds"]["total"]


def test_the_mean_over_supernets_averages_each_figure():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from strategies import mean_score

    from nasrec.evaluators.base import Score

    def score(loss: float, auc: float, seconds: float) -> str:
        oracle = {"expected_log_loss": loss - 0.01, "regret": loss - 0.35}  # oracle data: averaged too
        score = Score(log_loss=loss, auc=auc, examples=10, seconds=seconds, evaluator="finetune", **oracle)
        return score.model_dump_json()

    mean = Score.model_validate_json(mean_score([score(0.40, 0.70, 1.5), score(0.50, 0.60, 2.0)]))
    assert mean.log_loss == pytest.approx(0.45) and mean.auc == pytest.approx(0.65) and mean.seconds == 3.5
    assert mean.expected_log_loss == pytest.approx(0.44) and mean.regret == pytest.approx(0.10)
    assert mean.log_loss_std == pytest.approx(0.0707107) and mean.objective is None
    assert mean.config == {"supernets": 2} and mean.examples == 10


def test_two_supernets_keep_a_cache_each_and_score_their_mean(tmp_path, tiny_space_file):
    """With the deterministic formula evaluator both "supernets" score alike, so the mean is the one score
    and every strategy follows the one-supernet run's curve; each supernet has its own cache file."""
    one, _ = run(tmp_path / "one", tiny_space_file)
    two, _ = run(tmp_path / "two", tiny_space_file, "--supernets", "2")
    assert two["config"]["supernets"] == 2 and "supernets" not in one["config"]
    for name, r in one["runs"]["0"].items():
        assert two["runs"]["0"][name]["curve"] == r["curve"]
    caches = [tmp_path / "two" / "runs" / "seed-0" / name for name in ("scores.jsonl", "scores-1.jsonl")]
    lines = [c.read_text().splitlines() for c in caches]
    assert len(lines[0]) == len(lines[1]) == sum(r["newly_scored"] for r in two["runs"]["0"].values())


def _benchmark_module():
    spec = importlib.util.spec_from_file_location("strategies_benchmark", ROOT / "benchmarks" / "strategies.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_score_caches_are_pinned_to_the_validation_rows_their_scores_were_computed_on(tmp_path, monkeypatch):
    """A folder from before the proxies' validation cap (its config has no `valid_examples`) scored the whole split:
    it resumes where the cap takes every row (the bundled 1,495) and is refused where the cap now takes fewer."""
    from nasrec.evaluators.proxy import VALID_ROWS

    bench = _benchmark_module()
    args = argparse.Namespace(
        data="sample:criteo", space="nasrec-full", evaluator="finetune", recipe="fast", supernet_epochs=1.0,
        supernets=1, out=tmp_path,
    )  # fmt: skip
    assert bench.scored_rows(args) == 1495
    assert bench.scored_rows(argparse.Namespace(**{**vars(args), "evaluator": "full"})) == 1495  # no cap: every row
    old = {k: v for k, v in bench.ScoreCacheConfig.of(args).model_dump().items() if k != "valid_examples"}
    (tmp_path / "config.json").write_text(json.dumps(old))
    bench.pin_score_caches(args)  # the whole split then, every row now: the same scores
    assert "valid_examples" not in json.loads((tmp_path / "config.json").read_text())  # left as it was
    monkeypatch.setattr(bench, "valid_split_rows", lambda data: VALID_ROWS + 1)  # a split larger than the cap
    assert bench.scored_rows(args) == VALID_ROWS
    with pytest.raises(UsageError, match=r"holds another strategies score cache's config \(different valid_examples\)"):
        bench.pin_score_caches(args)
