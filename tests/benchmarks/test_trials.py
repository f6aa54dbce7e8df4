"""The recipe benchmarks' resumable trial loop (benchmarks/_trials.py)."""

import json
import sys
from pathlib import Path

from nasrec.evaluators.guard import TrainingDiverged
from nasrec.genotype import sample

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _trials import run_trials


def test_every_trial_runs_once_a_diverged_one_is_kept_and_a_rerun_resumes(tmp_path):
    genotypes = [("a", sample("nasrec-full", rng=0)), ("b", sample("nasrec-full", rng=1))]
    recipes = {"base": {}, "calm": {"lr": 0.04}}
    calls = []

    def train(update, genotype, seed):
        calls.append((update.get("lr"), genotype.digest(), seed))
        if update and seed == 1 and genotype is genotypes[1][1]:
            raise TrainingDiverged("train b: loss 9.0 at step 3")
        return {"log_loss": 0.5 + seed}

    out = tmp_path / "trials.jsonl"
    done = run_trials(out, recipes, genotypes, 2, train, failed={"log_loss": None})
    assert len(calls) == len(done) == 8
    assert done[("calm", "b", 1)] | {"seconds": 0} == {
        "recipe": "calm",
        "digest": "b",
        "seed": 1,
        "error": "train b: loss 9.0 at step 3",
        "seconds": 0,
        "log_loss": None,
    }
    assert done[("base", "a", 1)]["log_loss"] == 1.5 and done[("base", "a", 1)]["error"] is None
    lines = out.read_text().splitlines()
    assert len(lines) == 8 and json.loads(lines[0])["recipe"] == "base"

    again = run_trials(out, recipes, genotypes, 2, train, failed={"log_loss": None})
    assert len(calls) == 8 and again == done  # nothing retrained
    more = run_trials(out, recipes, genotypes, 3, train, failed={"log_loss": None})
    assert len(calls) == 12 and len(more) == 12  # only the new seed's trials
