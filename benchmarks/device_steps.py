"""Steady-state training steps per second, before and after a change: the supernet step as `train_supernet` runs
it (a sampled NASRec-Full path each step) and standalone steps (`Trainer`) for zoo:dlrm and sampled NASRec-Full
subnets, at batch 512 and 8,192 on Criteo-shaped synthetic rows.

Each version runs in its own process: "before" imports the package pinned at `.before/` (made with
`git archive <commit> nasrec | tar -x -C .before/`, its commit in `.before/COMMIT`), "after" the working tree.
Timing starts at step `--warmup` (start-up, CUDA context and first-call kernels left out) and ends at the start
of step `--warmup + steps`, with `torch.cuda.synchronize()` at both ends: it counts everything a run does
between steps (batches, path sampling, loss reads). `--device cpu` with few steps is a dry run.

    python benchmarks/device_steps.py --device cuda --json device-steps.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class _Done(Exception):
    """Raised inside the step after the timed window (and the profile), ending the run without its final save."""


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _steps_per_s(cls: type, run, device: str, warmup: int, steps: int, profile: Path | None = None) -> float:
    """Steps/s of `cls._train_step` while `run()` trains: from the start of step `warmup` to that of step
    `warmup + steps`; then, with `profile`, a torch.profiler table of 16 more steps."""
    import torch

    original, count, marks = cls._train_step, [0], []
    prof: list = []

    def step(self, batch, lr_factor):
        n = count[0]
        if n in (warmup, warmup + steps):
            _sync(device)
            marks.append(time.perf_counter())
        if n == warmup + steps:
            if profile is None:
                raise _Done
            acts = [torch.profiler.ProfilerActivity.CPU]
            if device.startswith("cuda"):
                acts.append(torch.profiler.ProfilerActivity.CUDA)
            prof.append(torch.profiler.profile(activities=acts))
            prof[0].__enter__()
        if n == warmup + steps + 16:
            _sync(device)
            prof[0].__exit__(None, None, None)
            table = prof[0].key_averages().table(sort_by="self_cpu_time_total", row_limit=40)
            profile.write_text(f"16 steps after the timed window\n{table}\n")
            raise _Done
        count[0] += 1
        return original(self, batch, lr_factor)

    cls._train_step = step
    try:
        run()
    except _Done:
        pass
    finally:
        cls._train_step = original
    if len(marks) < 2:
        raise RuntimeError(f"the run ended after {count[0]} steps, before {warmup + steps}")
    return steps / (marks[1] - marks[0])


def measure(args: argparse.Namespace) -> dict:
    """The measurements of one version (the package on PYTHONPATH); only APIs both versions have."""
    import torch

    from nasrec.compiler import compile_standalone
    from nasrec.data import PreparedData
    from nasrec.evaluators import SupernetTrainingConfig, TrainConfig, train_supernet
    from nasrec.evaluators import training as training_mod
    from nasrec.evaluators.supernet_training import SupernetTrainer
    from nasrec.evaluators.training import Trainer
    from nasrec.genotype import sample
    from nasrec.genotype.zoo import load_zoo

    if args.sync_every is not None and hasattr(training_mod, "SYNC_EVERY_CUDA"):
        training_mod.SYNC_EVERY_CUDA = args.sync_every
    torch.manual_seed(0)
    dev, work = args.device, Path(tempfile.mkdtemp(prefix="nasrec-steps-"))
    data = PreparedData.open(args.data)
    train = data.split("train")
    out: dict = {"package": str(Path(sys.modules["nasrec"].__file__).parent), "supernet": {}, "standalone": {}}
    models = {"dlrm": load_zoo("dlrm")} | {
        f"nasrec-full-{i}": sample("nasrec-full", rng=i) for i in range(args.subnets)
    }
    for b in args.batches:
        steps = args.steps if b <= 512 else args.steps_large
        per_epoch = train.full_batches(b)
        epochs = math.ceil((args.warmup + steps + 17) / per_epoch) + 1
        recipe = TrainConfig(batch_size=b, epochs=epochs, checkpoint_every=10**6)
        cfg = SupernetTrainingConfig(data=str(args.data), warmup_fraction=0.0, train=recipe)
        folder = work / f"sn-{b}"
        profile = args.profile.with_name(f"{args.profile.name}-{b}.txt") if args.profile else None
        rate = _steps_per_s(
            SupernetTrainer,
            lambda: train_supernet(cfg, folder, device=dev),  # noqa: B023 (run at once, inside the loop)
            dev,
            args.warmup,
            steps,
            profile,
        )
        out["supernet"][str(b)] = round(rate, 2)
        print(f"supernet batch {b}: {rate:.2f} steps/s", flush=True)
        if args.supernet_only:
            continue
        for name, g in models.items():
            torch.manual_seed(0)
            model = compile_standalone(g, data.spec).to(dev)
            trainer = Trainer(model, recipe, device=dev, label=name)
            rate = _steps_per_s(
                Trainer,
                lambda: trainer.fit(  # noqa: B023 (run at once, inside the loop)
                    lambda e: train.batches(b, shuffle=True, seed=0, epoch=e, drop_last=True),  # noqa: B023
                    per_epoch,  # noqa: B023
                    base_rate=train.positive_rate,
                ),
                dev,
                args.warmup,
                steps,
            )
            out["standalone"].setdefault(name, {})[str(b)] = round(rate, 2)
            print(f"standalone {name} batch {b}: {rate:.2f} steps/s", flush=True)
    return out


def run_version(args: argparse.Namespace, name: str, path: Path, data: Path, extra: list[str]) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(path), *filter(None, [env.get("PYTHONPATH")])])
    res = Path(tempfile.mkdtemp(prefix="nasrec-steps-")) / f"{name}.json"
    cmd = [sys.executable, __file__, "--measure", str(res), "--data", str(data), "--device", args.device]
    cmd += ["--batches", ",".join(map(str, args.batches)), "--warmup", str(args.warmup), "--steps", str(args.steps)]
    cmd += ["--steps-large", str(args.steps_large), "--subnets", str(args.subnets), *extra]
    print(f"== {name} ({path})", flush=True)
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, cwd=ROOT)
    out = json.loads(res.read_text())
    out["wall_s"] = round(time.perf_counter() - t, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--rows", type=int, default=200_000, help="synthetic Criteo-shaped rows")
    ap.add_argument("--batches", type=lambda s: [int(x) for x in s.split(",")], default=[512, 8192])
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    ap.add_argument("--steps", type=int, default=128, help="timed steps at batch <= 512")
    ap.add_argument("--steps-large", type=int, default=64, help="timed steps at larger batches")
    ap.add_argument("--subnets", type=int, default=2, help="sampled NASRec-Full standalone models")
    ap.add_argument("--before", type=Path, default=ROOT / ".before", help="the pinned package of 'before'")
    ap.add_argument("--profile-dir", type=Path, default=None, help="write torch.profiler tables of 'after' here")
    ap.add_argument("--quick", action="store_true", help="the sync-every-1 variant on the supernet only")
    # internal: one version's measurements
    ap.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--sync-every", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--supernet-only", action="store_true", help="no standalone models")
    ap.add_argument("--profile", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        args.measure.write_text(json.dumps(measure(args)))
        return

    import torch

    from nasrec.data import make_synthetic

    data = Path(tempfile.mkdtemp(prefix="nasrec-steps-")) / "syn"
    make_synthetic(args.rows, seed=0).save(data)
    commit = args.before / "COMMIT"
    out: dict = {
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None,
        "device": args.device,
        "rows": args.rows,
        "warmup_steps": args.warmup,
        "timed_steps": {str(b): args.steps if b <= 512 else args.steps_large for b in args.batches},
        "before_commit": commit.read_text().strip() if commit.exists() else None,
    }
    only = ["--supernet-only"] if args.supernet_only else []
    out["before"] = run_version(args, "before", args.before, data, only)
    prof = ["--profile", str(args.profile_dir / "profile-after")] if args.profile_dir else []
    if args.profile_dir:
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    out["after"] = run_version(args, "after", ROOT, data, prof + only)
    out["after_sync_every_1"] = run_version(
        args, "after_sync_every_1", ROOT, data, ["--sync-every", "1"] + (["--supernet-only"] if args.quick else only)
    )
    out["supernet_speedup"] = {
        b: round(out["after"]["supernet"][b] / out["before"]["supernet"][b], 2) for b in out["before"]["supernet"]
    }
    print(json.dumps(out, indent=2), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
