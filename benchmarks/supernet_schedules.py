"""Supernet schedules on the bundled real Criteo rows: which warm-up keeps Adagrad's first steps safe.

For each (warm-up floor in steps, epochs, head start) the supernet is trained on the train split, and 20 sampled
NASRec-Full subnets are scored on the validation rows with inherited weights (`supernet`) and with the head
re-fitted (`finetune`, `fast` recipe); a constant predictor (the training rows' click rate) is the bar.

    python benchmarks/supernet_schedules.py --out docs/results/supernet-schedules.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nasrec.evaluators import FinetunedProxy, SupernetProxy, SupernetTrainingConfig, TrainConfig, train_supernet
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.supernet_training import training_report
from nasrec.genotype import sample

VARIANTS = [  # (min_warmup_steps, epochs, head_init): the paper's schedule, the default, then the others
    (0, 1, False),
    (1000, 1, True),
    (0, 1, True),
    (300, 1, True),
    (1000, 4, True),
    (300, 4, True),
    (100, 1, True),
]


def constant_log_loss(data) -> float:
    p = float(data.split("train").positive_rate)
    y = data.split("valid").label.astype(np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="sample:criteo")
    ap.add_argument("--subnets", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path("docs/results/supernet-schedules.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = open_data(args.data)
    const = constant_log_loss(data)
    genotypes = [sample("nasrec-full", "single-operator-any-connection", [99, i]) for i in range(args.subnets)]
    rows = json.loads(args.out.read_text())["variants"] if args.out.exists() else []
    seen = {(r["min_warmup_steps"], r["epochs"], r["head_init"]) for r in rows}
    print(f"constant predictor: {const:.4f}")
    for floor, epochs, head in VARIANTS:
        if (floor, epochs, head) in seen:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            config = SupernetTrainingConfig(
                data=args.data,
                train=TrainConfig(epochs=epochs, min_warmup_steps=floor, head_init=head, guard_patience=10**6),
            )
            start = time.perf_counter()
            train_supernet(config, tmp)
            seconds = time.perf_counter() - start
            report = training_report(tmp)
            ckpt = str(Path(tmp) / "checkpoint.pt")
            scores = {
                name: [s.log_loss for s in ev.evaluate(genotypes)]
                for name, ev in (
                    ("supernet", SupernetProxy(data=args.data, supernet=ckpt)),
                    ("finetune-fast", FinetunedProxy(data=args.data, supernet=ckpt)),
                )
            }
        row = {
            "min_warmup_steps": floor,
            "epochs": epochs,
            "head_init": head,
            "steps": report["steps"],
            "diverged_steps": report["divergence"]["count"],
            "worst_step_loss": report["divergence"]["worst_loss"],
            "seconds": round(seconds, 1),
        }
        for name, values in scores.items():
            v = np.asarray(values)
            row[name] = {
                "median": float(np.median(v)),
                "worst": float(v.max()),
                "best": float(v.min()),
                "below_constant": int((v < const).sum()),
                "of": len(v),
            }
        rows.append(row)
        print(json.dumps(row), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"data": args.data, "constant_log_loss": const, "variants": rows}, indent=2))


if __name__ == "__main__":
    main()
