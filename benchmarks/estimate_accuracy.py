"""How close `nasrec search --estimate` comes to what the run then takes, stage by stage, in one process.

Measures the rates and estimates each stage (`Pipeline.estimate`), then runs the same config in a new folder
and prints, per stage, the estimate, the stage's wall time and their ratio. The estimate counts training steps
and proxy evaluations only; the ratio shows what start-up, validations and early stopping add or save.

    nasrec data synthetic -o runs/oracle200k --rows 200000 --teacher random:nasrec-full --teacher-scale 2
    OMP_NUM_THREADS=1 python benchmarks/estimate_accuracy.py --data runs/oracle200k --out runs/estimate-oracle \\
        --json docs/results/estimate-accuracy-oracle.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from rich.console import Console

from nasrec.search.estimate import duration, measure
from nasrec.search.pipeline import Pipeline, RunConfig


def config_of(args: argparse.Namespace) -> RunConfig:
    return RunConfig(
        data=str(Path(args.data).resolve()) if Path(args.data).exists() else args.data,
        space=args.space,
        seed=args.seed,
        supernet={"train": {"epochs": args.supernet_epochs}},
        strategy={
            "name": "evolution",
            "options": {"population": args.population, "cycles": args.cycles, "tournament": 4, "children": 4},
        },
        top_k=args.top_k,
        full_epochs=args.epochs,
        final_epochs=args.epochs,
        final_seeds=1,
        zoo=tuple(args.zoo),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="sample:criteo")
    ap.add_argument("--space", default="nasrec-full")
    ap.add_argument("--out", type=Path, required=True, help="a new folder for the run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--supernet-epochs", type=float, default=1.0)
    ap.add_argument("--population", type=int, default=8)
    ap.add_argument("--cycles", type=int, default=2)
    ap.add_argument("--top-k", type=int, default=2)
    ap.add_argument("--epochs", type=float, default=1.0, help="most epochs of the top-k and final trainings")
    ap.add_argument("--zoo", nargs="*", default=["dlrm"])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.out.exists():
        raise SystemExit(f"--out {args.out}: exists; the run must start in a new folder to be timed whole")
    config = config_of(args)
    pipeline = Pipeline(config, args.out, console=Console(quiet=True), progress=False)
    pipeline.check()
    rates = measure(config)
    estimates = pipeline.estimate(rates)
    start = time.perf_counter()
    summary = pipeline.run()
    wall = time.perf_counter() - start
    rows = []
    print(f"{'stage':<16} {'estimate':>10} {'took':>10} {'took / estimate':>16}")
    for e in estimates:
        took = summary.stage_seconds.get(e.stage)
        ratio = None if took is None or not e.seconds else took / e.seconds
        rows.append({"stage": e.stage, "estimate_s": e.seconds, "took_s": took, "ratio": ratio, "how": e.how})
        shown = "" if ratio is None else f"{ratio:.2f}"
        print(f"{e.stage:<16} {duration(e.seconds or 0):>10} {duration(took or 0):>10} {shown:>16}")
    total = sum(e.seconds or 0 for e in estimates)
    print(f"{'in all':<16} {duration(total):>10} {duration(wall):>10} {wall / total:>16.2f}")
    print(f"measuring took {rates.measured_seconds:.1f} s ({torch.get_num_threads()} threads)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "config": json.loads(config.model_dump_json()),
                    "threads": torch.get_num_threads(),
                    "rates": rates.model_dump(),
                    "stages": rows,
                    "estimate_s": total,
                    "run_s": wall,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
