"""GPU check: the same work on `cpu` and `cuda` gives the same numbers, and how much faster the GPU is.

Supernet training (NASRec-Full, bundled Criteo rows), the fast fine-tuned proxy on 4 candidates and one
standalone model trained from scratch, each on both devices; then supernet steps per second on larger
synthetic Criteo-shaped rows: `train_supernet(stop_after=60)` end to end, start-up included (steady-state steps/s,
before and after a change: benchmarks/device_steps.py). Needs a CUDA machine.

    python benchmarks/device_check.py --json device-check.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from nasrec.data import make_synthetic
from nasrec.evaluators import FinetunedProxy, FullTrain, SupernetTrainingConfig, TrainConfig, train_supernet
from nasrec.evaluators.checkpoint import load_checkpoint
from nasrec.genotype import sample
from nasrec.genotype.zoo import load_zoo


def _timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--synthetic-rows", type=int, default=300_000)
    ap.add_argument("--devices", default="cpu,cuda", help="the two devices compared (cpu,cpu: a dry run)")
    args = ap.parse_args()
    d1, d2 = args.devices.split(",")
    work = Path(tempfile.mkdtemp(prefix="nasrec-device-"))
    out: dict = {
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }

    # 1. supernet training on both devices, same seed and batches
    cfg = SupernetTrainingConfig(data="sample:criteo", cap=50_000, train=TrainConfig(epochs=1, lr=0.03))
    runs = {}
    for dev in (d1, d2):
        _, secs = _timed(lambda: train_supernet(cfg, work / f"sn-{dev}", device=dev))  # noqa: B023 (called at once, inside the loop)
        runs[dev] = (load_checkpoint(work / f"sn-{dev}" / "checkpoint.pt")["model"], secs)
    a, b = runs[d1][0], runs[d2][0]
    out["supernet"] = {
        "steps": 22,
        "max_abs_param_diff": max((a[k] - b[k]).abs().max().item() for k in a),
        f"{d1}_s": round(runs[d1][1], 2),
        f"{d2}_s": round(runs[d2][1], 2),
    }
    print("supernet cpu vs cuda:", out["supernet"], flush=True)

    # 2. fast fine-tuned proxy on both devices, from the CPU-trained supernet
    cands = [sample("nasrec-full", rng=i) for i in range(4)]
    scores = {}
    for dev in (d1, d2):
        ev = FinetunedProxy(
            data="sample:criteo",
            supernet=str(work / f"sn-{d1}" / "checkpoint.pt"),
            recipe="fast",
            train_rows=4096,
            device=dev,
        )
        ev.evaluate(cands[:1])  # warm-up (CUDA context, kernels)
        scores[dev], secs = _timed(lambda: ev.evaluate(cands))  # noqa: B023 (called at once, inside the loop)
        scores[dev + "_s"] = secs / len(cands)
    out["proxy"] = {
        "max_abs_logloss_diff": max(abs(x.log_loss - y.log_loss) for x, y in zip(scores[d1], scores[d2], strict=True)),
        f"{d1}_s_per_candidate": round(scores[d1 + "_s"], 3),
        f"{d2}_s_per_candidate": round(scores[d2 + "_s"], 3),
    }
    print("fast proxy cpu vs cuda:", out["proxy"], flush=True)

    # 3. a standalone model from scratch
    full = {}
    for dev in (d1, d2):
        ev = FullTrain(data="sample:criteo", cap=50_000, train=TrainConfig(epochs=1, lr=0.03), device=dev)
        (full[dev],), full[dev + "_s"] = _timed(lambda: ev.evaluate([load_zoo("dlrm")]))  # noqa: B023 (called at once, inside the loop)
    out["full_train_dlrm"] = {d: round(full[d].log_loss, 6) for d in (d1, d2)} | {
        f"{d}_s": round(full[d + "_s"], 2) for d in (d1, d2)
    }
    print("full training cpu vs cuda:", out["full_train_dlrm"], flush=True)

    # 4. supernet training speed on Criteo-shaped synthetic rows
    make_synthetic(args.synthetic_rows, seed=0).save(work / "syn")
    speed = {}
    for dev in (d1, d2):
        scfg = SupernetTrainingConfig(data=str(work / "syn"), train=TrainConfig(epochs=1, checkpoint_every=10**6))
        steps = 60
        _, secs = _timed(lambda: train_supernet(scfg, work / f"syn-{dev}", device=dev, stop_after=steps))  # noqa: B023 (called at once, inside the loop)
        speed[dev] = steps / secs
    out["supernet_steps_per_s"] = {k: round(v, 2) for k, v in speed.items()}
    out["supernet_speedup"] = round(speed[d2] / speed[d1], 1)
    print(
        "supernet steps/s (batch 512, NASRec-Full, Criteo shape):",
        out["supernet_steps_per_s"],
        f"{d2}/{d1} {out['supernet_speedup']}x",
        flush=True,
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
