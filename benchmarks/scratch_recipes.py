"""Is the scratch-training recipe too hot? Candidate recipes against the default on the ranking study's genotypes.

The ranking study's reference (docs/results/rank-criteo-reference.jsonl: 50 NASRec-Full genotypes, 2 seeds,
the default recipe: Adagrad lr 0.12, warm-up floor 100 steps, at most 10 epochs, patience 2) shows loss spikes
(the divergence guard's count) in 61 of its 98 trainings, a first-epoch validation log loss above the constant
predictor's in 42, and a seed-to-seed difference of 0.008 against a spread of 0.015 between genotypes. This
benchmark trains the first `--n` of those genotypes with each recipe and each seed, in one process, and prints
per recipe: mean validation log loss (paired by genotype against the default), mean |seed 0 - seed 1|, runs
with spikes, spikes per run, best epoch and seconds per training. Resumable: `OUT` (JSON lines) keeps every
finished training.

    python benchmarks/scratch_recipes.py --out runs/scratch-recipes.jsonl --json docs/results/scratch-recipes.json
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import numpy as np
from _trials import parse_args, reference_genotypes, run_trials

from nasrec.evaluators.base import build_evaluator
from nasrec.evaluators.full_train import SCRATCH_RECIPE
from nasrec.genotype.schema import Genotype

RECIPES = {
    "default (lr 0.12)": {},
    "lr 0.06": {"lr": 0.06},
    "lr 0.04, warm-up floor 200": {"lr": 0.04, "min_warmup_steps": 200},
}


def train(update: dict[str, Any], genotype: Genotype, seed: int, data: str) -> dict[str, Any]:
    recipe = SCRATCH_RECIPE.model_copy(update=update)
    ev = build_evaluator("full", {"data": data, "seed": seed, "train": recipe.model_dump()})
    score = ev.evaluate([genotype])[0]
    run = score.runs[0]
    rec = {"log_loss": score.log_loss, "spikes": run.diverged_steps, "best_step": run.best_step}
    return rec | {"curve": [p.log_loss for p in run.curve]}


def main() -> None:
    args = parse_args(__doc__, n=8, data="sample:criteo")
    genotypes = reference_genotypes(args.reference, args.n)
    failed: dict[str, Any] = {"log_loss": None, "spikes": None, "best_step": None, "curve": []}
    done = run_trials(args.out, RECIPES, genotypes, args.seeds, partial(train, data=args.data), failed)
    summary = summarize(done, [d for d, _ in genotypes], args.seeds)
    for name, s in summary.items():
        print(f"{name:28s} " + "  ".join(f"{k} {v}" for k, v in s.items()))
    if args.json:
        record: dict[str, Any] = {
            "command": f"python benchmarks/scratch_recipes.py --n {args.n} --seeds {args.seeds} --data {args.data}"
        }
        record |= {"recipes": {k: SCRATCH_RECIPE.model_copy(update=v).model_dump() for k, v in RECIPES.items()}}
        record |= {"summary": summary, "runs": list(done.values())}
        args.json.write_text(json.dumps(record, indent=2) + "\n")


def _seed_diff(done: dict, name: str, digests: list[str]) -> float:
    return round(
        float(np.mean([abs(done[(name, d, 0)]["log_loss"] - done[(name, d, 1)]["log_loss"]) for d in digests])), 5
    )


def summarize(done: dict, digests: list[str], seeds: int) -> dict[str, dict[str, float | int]]:
    """Per recipe, over genotypes finished with every seed in both it and the default."""
    base = next(iter(RECIPES))
    out = {}
    for name in RECIPES:
        ok = [
            d
            for d in digests
            if all(done.get((r, d, s), {}).get("log_loss") is not None for r in (name, base) for s in range(seeds))
        ]
        if not ok:
            continue
        mean = {d: np.mean([done[(name, d, s)]["log_loss"] for s in range(seeds)]) for d in ok}
        base_mean = {d: np.mean([done[(base, d, s)]["log_loss"] for s in range(seeds)]) for d in ok}
        runs = [done[(name, d, s)] for d in ok for s in range(seeds)]
        failed = sum(1 for d in digests for s in range(seeds) if done.get((name, d, s), {}).get("error"))
        out[name] = {
            "genotypes": len(ok),
            "mean_log_loss": round(float(np.mean(list(mean.values()))), 5),
            "minus_default": round(float(np.mean([mean[d] - base_mean[d] for d in ok])), 5),
            "seed_diff": _seed_diff(done, name, ok) if seeds > 1 else float("nan"),
            "genotype_std": round(float(np.std(list(mean.values()))), 5),
            "runs_with_spikes": sum(1 for r in runs if r["spikes"]),
            "spikes_per_run": round(float(np.mean([r["spikes"] for r in runs])), 2),
            "first_epoch_above_0.5363": sum(1 for r in runs if r["curve"] and r["curve"][0] > 0.5363),
            "best_step": round(float(np.mean([r["best_step"] for r in runs])), 1),
            "seconds": round(float(np.mean([r["seconds"] for r in runs])), 1),
            "failed": failed,
        }
    return out


if __name__ == "__main__":
    main()
