"""Final models: retrain on train + valid for the chosen epochs, or keep the early-stopped model? Per recipe.

The pipeline's final stage (and `nasrec evaluate --split test`) trains each seed early-stopped on `train`,
then retrains on train + valid for the epochs early stopping chose, and scores that retrained model on test.
On the 12,000-row oracle set the searched models came out badly calibrated (README: random search's seed-1
model at log loss 1.08 with AUC 0.71); the suspect is that retraining, which has no validation rows left to
stop it or to restore a best epoch. This benchmark scores, on the same test rows, for each genotype, seed and
scratch recipe: the early-stopped model trained on `train` only ("keep") and the retrained one ("retrain") —
log loss, AUC and (oracle data) regret — and prints the paired means. Resumable: `OUT` (JSON lines) keeps
every finished pair.

    nasrec data synthetic -o runs/oracle12k --rows 12000 --teacher random:nasrec-full
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/final_protocol.py --data runs/oracle12k \\
        --out runs/final-protocol.jsonl --json docs/results/final-protocol-oracle.json
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import numpy as np
import torch
from _trials import parse_args, reference_genotypes, run_trials

from nasrec.evaluators.full_train import SCRATCH_RECIPE, FullTrain, _predict
from nasrec.evaluators.metrics import auc, log_loss_from_logits
from nasrec.evaluators.scoring import eval_rows, oracle_metrics
from nasrec.genotype.schema import Genotype

RECIPES = {
    "default (lr 0.12, floor 100)": {},
    "lr 0.04, floor 200": {"lr": 0.04, "min_warmup_steps": 200},
}
FAILED = {"keep": None, "retrain": None}


def metrics(ev: FullTrain, model: torch.nn.Module, rows) -> dict[str, float | None]:
    z = _predict(model, rows, ev.device)
    out: dict[str, float | None] = {"log_loss": log_loss_from_logits(rows.labels, z), "auc": auc(rows.labels, z)}
    return out | {"regret": oracle_metrics(rows, z).get("regret")}


def pair(update: dict[str, Any], genotype: Genotype, seed: int, data: str) -> dict[str, Any]:
    """Both final protocols for one seed, on the same test rows (the FullTrain internals the stage runs)."""
    recipe = SCRATCH_RECIPE.model_copy(update=update)
    ev = FullTrain(data=data, train=recipe, seed=seed, train_split="train+valid", eval_split="test")
    rows = eval_rows(ev.data, "test", ev.cfg.eval_batch_size)
    keep, chosen = ev._train(genotype, seed, "train", None, ev.cfg.train)  # early-stopped, best weights restored
    per_epoch = {s: ev.data.split(s).full_batches(recipe.batch_size) for s in ("train", "train+valid")}
    steps = max(1, round((chosen.best_step or 0) * per_epoch["train+valid"] / per_epoch["train"]))
    retrain, trainer = ev._train(genotype, seed, "train+valid", steps, ev.cfg.train)
    return {
        "keep": metrics(ev, keep, rows) | {"steps": chosen.best_step, "spikes": chosen.divergence.count},
        "retrain": metrics(ev, retrain, rows) | {"steps": trainer.step, "spikes": trainer.divergence.count},
    }


def main() -> None:
    args = parse_args(__doc__, n=4, data=None)
    genotypes = reference_genotypes(args.reference, args.n)
    done = run_trials(args.out, RECIPES, genotypes, args.seeds, partial(pair, data=args.data), FAILED)
    summary = summarize(list(done.values()))
    for name, s in summary.items():
        print(f"{name:30s} " + "  ".join(f"{k} {v}" for k, v in s.items()))
    if args.json:
        command = f"python benchmarks/final_protocol.py --data {args.data} --n {args.n} --seeds {args.seeds}"
        record: dict = {"command": command}
        record |= {"recipes": {k: SCRATCH_RECIPE.model_copy(update=v).model_dump() for k, v in RECIPES.items()}}
        record |= {"summary": summary, "runs": list(done.values())}
        args.json.write_text(json.dumps(record, indent=2) + "\n")


def summarize(runs: list[dict]) -> dict[str, dict[str, float | int | None]]:
    """Per recipe: mean test metrics of both protocols over the pairs that finished, and retrain minus keep."""
    out = {}
    for name in RECIPES:
        ok = [r for r in runs if r["recipe"] == name and r["error"] is None]
        if not ok:
            continue
        failed = sum(r["recipe"] == name for r in runs) - len(ok)
        row: dict[str, float | int | None] = {"pairs": len(ok), "failed": failed}
        for metric in ("log_loss", "auc", "regret"):
            if ok[0]["keep"][metric] is None:
                continue
            keep = np.array([r["keep"][metric] for r in ok])
            retrain = np.array([r["retrain"][metric] for r in ok])
            row[f"keep_{metric}"] = round(float(keep.mean()), 5)
            row[f"retrain_{metric}"] = round(float(retrain.mean()), 5)
            row[f"retrain_minus_keep_{metric}"] = round(float((retrain - keep).mean()), 5)
            row[f"retrain_worse_{metric}"] = int(np.sum(retrain > keep if metric != "auc" else retrain < keep))
        row["worst_retrain_log_loss"] = round(max(r["retrain"]["log_loss"] for r in ok), 4)
        row["retrain_spikes"] = sum(r["retrain"]["spikes"] for r in ok)
        out[name] = row
    return out


if __name__ == "__main__":
    main()
