"""A short scratch training as a proxy, against a ranking study's committed reference.

The ranking study's proxies share weights (a supernet); the other classic proxy is low-fidelity training: each
genotype trained from scratch for a fraction of the reference's budget, with one seed that is not one of the
reference's, its learning-rate schedule planned for that short run (the scratch recipe with `--epochs`, no
early stopping), and scored by its validation log loss: what a search could see. Reported per budget: the
agreement with the reference (the mean over its seeds, regret on oracle data) and the seconds per candidate,
to set beside the study's proxies (docs/results/rank-*.json). Genotypes and reference come from the study's
reference table; each score is logged as it finishes (OUT/scores.jsonl), so a rerun resumes. `--paired OTHER`
adds each budget's tau minus the same budget's in another OUT (e.g. scratch against `--inherit`), with a paired
bootstrap interval over genotypes.

    python benchmarks/scratch_proxy.py docs/results/rank-oracle --data runs/oracle200k --epochs 0.5 1 \\
        --out runs/scratch-proxy-oracle --json docs/results/rank-oracle-scratch-proxy.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from rank_diagnostics import run_score

from nasrec.evaluators.base import build_evaluator
from nasrec.evaluators.full_train import SCRATCH_RECIPE
from nasrec.evaluators.guard import TrainingDiverged
from nasrec.evaluators.ranking import agreement, kendall_difference
from nasrec.evaluators.study_records import ReferenceEntry, read_reference_table
from nasrec.state import Stage, pin_config, read_jsonl


class ScratchProxyConfig(BaseModel):
    """What OUT's scores depend on besides the budget (its records are keyed by budget and genotype): pinned, so
    a rerun into the same OUT with another seed, data or supernet is refused, not mixed in."""

    model_config = ConfigDict(extra="forbid")

    data: str
    seed: int
    inherit: str | None


class ProxyScore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epochs: float
    digest: str
    log_loss: float | None
    regret: float | None
    steps: int | None
    seconds: float
    error: str | None = None


def reference_of(row: ReferenceEntry) -> float:
    """The study's reference for one genotype: the mean over its seeds (regret where the data has it)."""
    return float(np.mean([run_score(run) for run in row.runs]))


def _median(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else float(np.median(values))


def scratch_proxy(
    table: list[ReferenceEntry],
    data: str,
    epochs: list[float],
    seed: int,
    out: Path,
    train: bool = True,
    inherit: str | None = None,
) -> dict[str, Any]:
    """Train every genotype of `table` for each budget in `epochs` (resuming `out`) and score the agreement;
    `train=False` only summarises what `out` holds (a budget's agreement is then over the genotypes done).
    `inherit`: a supernet checkpoint every model starts from (fine-tuning the whole subnet) instead of scratch."""
    out.mkdir(parents=True, exist_ok=True)
    pin_config(out / "config.json", ScratchProxyConfig(data=data, seed=seed, inherit=inherit), what="scratch-proxy")
    stage = Stage(out / "scores.jsonl", ProxyScore, key=lambda s: (s.epochs, s.digest))
    rows = [row for row in table if len(row.runs) >= 2]
    result: dict[str, Any] = {"data": data, "seed": seed, "inherit": inherit, "genotypes": len(rows), "budgets": {}}
    for e in epochs:
        recipe = SCRATCH_RECIPE.model_copy(update={"epochs": e, "patience": None, "eval_every": None})
        evaluator = build_evaluator(
            "full", {"data": data, "seed": seed, "train": recipe.model_dump(), "inherit": inherit}
        )

        def make(row: ReferenceEntry, e: float = e, evaluator: Any = evaluator) -> ProxyScore:
            start = time.perf_counter()
            try:
                score = evaluator.evaluate([row.genotype])[0]
            except TrainingDiverged as exc:  # a finding, not the end of the benchmark
                seconds = round(time.perf_counter() - start, 2)
                return ProxyScore(
                    epochs=e,
                    digest=row.digest,
                    log_loss=None,
                    regret=None,
                    steps=None,
                    seconds=seconds,
                    error=str(exc),
                )
            return ProxyScore(
                epochs=e,
                digest=row.digest,
                log_loss=score.log_loss,
                regret=score.regret,
                steps=score.runs[0].steps,
                seconds=round(time.perf_counter() - start, 2),
            )

        def key(row: ReferenceEntry, e: float = e) -> tuple[float, str]:
            return e, row.digest

        if train:
            done = stage.run(rows, key=key, make=make)
        else:
            done = [record for record in (stage.get(key(row)) for row in rows) if record is not None]
        by_digest = {s.digest: s for s in done if s.log_loss is not None}
        ok = [row for row in rows if row.digest in by_digest]
        if len(ok) < 3:
            continue
        result["budgets"][str(e)] = {
            "done": len(done),
            "failed": sum(s.log_loss is None for s in done),
            "steps": by_digest[ok[0].digest].steps,
            "seconds_per_candidate": float(np.mean([by_digest[r.digest].seconds for r in ok])),
            "median_regret": _median([by_digest[r.digest].regret for r in ok]),  # on oracle data
            "agreement": agreement(
                [by_digest[r.digest].log_loss for r in ok], [reference_of(r) for r in ok]
            ).model_dump(),
        }
    return result


def paired_with(result: dict[str, Any], table: list[ReferenceEntry], out: Path, other: Path) -> None:
    """Add to each budget of `result` (the log at `out`) its Kendall tau minus that of the same budget in the log
    at `other` (e.g. scratch against fine-tuning the whole subnet), on the genotypes both scored, with a paired
    bootstrap 95 % interval over genotypes (`paired_with` in the JSON)."""
    reference = {row.digest: reference_of(row) for row in table if len(row.runs) >= 2}
    logs = [{(s.epochs, s.digest): s for s in read_jsonl(o / "scores.jsonl", ProxyScore)} for o in (out, other)]
    for e, budget in result["budgets"].items():
        both = [
            d
            for d in reference
            if all(log.get((float(e), d)) is not None and log[(float(e), d)].log_loss is not None for log in logs)
        ]
        if len(both) < 3:
            continue
        a, b = ([log[(float(e), d)].log_loss for d in both] for log in logs)
        diff, low, high = kendall_difference(a, b, [reference[d] for d in both])
        budget["paired_with"] = {"out": str(other), "n": len(both), "difference": diff, "low": low, "high": high}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study", help="the committed files' common prefix, e.g. docs/results/rank-oracle")
    ap.add_argument("--data", required=True, help="the study's data (its config's `data`)")
    ap.add_argument("--epochs", type=float, nargs="+", default=[0.5, 1.0], help="budgets, in epochs")
    ap.add_argument("--seed", type=int, default=100, help="not one of the reference's seeds (0, 1, ...)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--inherit", help="a supernet's checkpoint.pt: fine-tune the whole subnet from its weights")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--summarize", action="store_true", help="only summarise what OUT holds so far")
    ap.add_argument("--paired", type=Path, help="another OUT of this script: each budget's tau minus its tau there")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    table = read_reference_table(f"{args.study}-reference.jsonl")
    result = scratch_proxy(
        table, args.data, args.epochs, args.seed, args.out, train=not args.summarize, inherit=args.inherit
    )
    if args.paired is not None:
        paired_with(result, table, args.out, args.paired)
    result["command"] = "python benchmarks/scratch_proxy.py " + " ".join(sys.argv[1:])
    for e, budget in result["budgets"].items():
        a = budget["agreement"]
        done = f"{budget['done']} of {result['genotypes']} genotypes done"
        print(
            f"{e} epochs ({budget['steps']} steps, {done}, {budget['seconds_per_candidate']:.1f} s/candidate): "
            f"Kendall tau {a['kendall_tau']:.3f} [{a['kendall_low']:.2f}, {a['kendall_high']:.2f}]"
        )
        if "paired_with" in budget:
            p = budget["paired_with"]
            print(f"  minus {p['out']}'s: {p['difference']:+.3f} [{p['low']:+.2f}, {p['high']:+.2f}] (n {p['n']})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
