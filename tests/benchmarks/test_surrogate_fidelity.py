"""The surrogate-fidelity analysis (benchmarks/surrogate_fidelity.py) on an evolution log of the formula
evaluator, whose score is a smooth function of the genotype's choices: a surrogate must rank it well there."""

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from surrogate_fidelity import fidelity, read_log, twin_fidelity

ROOT = Path(__file__).resolve().parents[2]


def test_a_predictable_landscape_is_predicted_on_every_measure(tmp_path, tiny_space_file):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "strategies.py"), "--space", tiny_space_file]
    cmd += ["--out", str(tmp_path / "runs"), "--json", str(tmp_path / "s.json"), "--seeds", "0", "--budget", "132"]
    cmd += ["--population", "4", "--tournament", "2", "--children", "8", "--strategies", "evolution"]
    cmd += ["--evaluator", "tests.search.formula:FormulaEvaluator", "--recipe", ""]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    log = tmp_path / "runs" / "seed-0" / "evolution.jsonl"
    r = fidelity(log, tiny_space_file, population=4, children=8, surrogate="ridge")
    nxt = r["next_cycle"]
    assert r["evaluations"] == 132 and nxt["cycles"] == 16 and nxt["first_pick_is_best_by_chance"] == 1 / 8
    assert nxt["kendall_tau_mean"] > 0.4 and nxt["first_pick_is_best"] > 3 / 8  # chance: 0 and 1/8
    assert list(r["next_64"]) == ["64"] and r["next_64"]["64"] > 0.6 and r["random_split"] > 0.6
    assert list(r["next_64_score_std"]) == ["64"] and r["next_64_score_std"]["64"] > 0

    # a second supernet that repeats the proxy exactly is a perfect predictor; one that reverses it, the worst
    genotypes, y = read_log(log)
    same = {g.active_digest(): v for g, v in zip(genotypes, y, strict=True)}
    exact = twin_fidelity(log, same, population=4, children=8)
    assert exact["next_cycle"]["kendall_tau_mean"] == 1.0 and exact["next_cycle"]["first_pick_is_best"] == 1.0
    assert exact["random_split"] == 1.0 and exact["next_64"]["64"] == 1.0
    reversed_ = twin_fidelity(log, {k: -v for k, v in same.items()}, population=4, children=8)
    assert reversed_["next_cycle"]["kendall_tau_mean"] == -1.0 and reversed_["random_split"] == -1.0

    out = tmp_path / "fidelity.json"
    script = [sys.executable, str(ROOT / "benchmarks" / "surrogate_fidelity.py"), str(tmp_path / "s.json")]
    script += ["--out", str(tmp_path / "runs"), "--json", str(out), "--surrogates", "ridge"]
    done = subprocess.run(script, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    written = json.loads(out.read_text())
    assert written["seeds"]["0"]["ridge"] == r and written["config"]["population"] == 4
    assert "seed 0 ridge: next cycle tau" in done.stdout
