"""Candidates per minute of a search scored by the fine-tuned proxy: 1 worker in-process vs Ray workers.

Trains a NASRec-Full supernet briefly on the bundled Criteo rows (`sample:criteo`), then scores the same
`--candidates` random-search candidates twice with `run_search`: in this process, and as Ray tasks on a
local Ray instance with `--ray-workers` CPUs and as many tasks in flight. Torch runs on 1 thread in both
arms (this process; each Ray task), so the arms differ only in how many candidates run at once. Each arm's
time includes building the evaluator (loading the supernet, gathering the rows); the Ray arm also includes
its worker processes starting and each loading the supernet, but not Ray's own start. Scores are checked
equal between the arms.

    .venv/bin/python benchmarks/parallel_search.py [--candidates 24] [--json docs/results/parallel-search.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import ray
import torch

from nasrec.evaluators import (
    FinetunedProxy,
    SupernetTrainingConfig,
    TrainConfig,
    train_supernet,
)
from nasrec.genotype import get_space
from nasrec.search.executors import InProcessExecutor
from nasrec.search.random import RandomSearch
from nasrec.search.ray_executor import RayExecutor
from nasrec.search.runner import run_search


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=24)
    ap.add_argument("--ray-workers", type=int, default=2)
    ap.add_argument("--supernet-epochs", type=float, default=0.5)
    ap.add_argument("--work", type=Path, default=None, help="folder for the supernet and logs (default: temporary)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="nasrec-parallel-search-"))
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]

    t = time.perf_counter()
    supernet = work / "supernet" / "checkpoint.pt"
    if not supernet.exists():
        train_supernet(
            SupernetTrainingConfig(
                data="sample:criteo", space="nasrec-full", train=TrainConfig(epochs=args.supernet_epochs)
            ),
            supernet.parent,
        )
    supernet_s = time.perf_counter() - t
    config = {"data": "sample:criteo", "supernet": str(supernet.resolve()), "recipe": "fast"}
    space, n = get_space("nasrec-full"), args.candidates

    t = time.perf_counter()
    local = run_search(
        RandomSearch(space, seed=0, budget=n), InProcessExecutor(FinetunedProxy(**config)), work / "in-process.jsonl"
    )
    local_s = time.perf_counter() - t

    ray.init(num_cpus=args.ray_workers, include_dashboard=False, log_to_driver=False)
    try:
        t = time.perf_counter()
        executor = RayExecutor("finetune", config, threads_per_task=1)
        remote = run_search(
            RandomSearch(space, seed=0, budget=n), executor, work / "ray.jsonl", parallel=args.ray_workers
        )
        ray_s = time.perf_counter() - t
        executor.close()
    finally:
        ray.shutdown()

    failed = [r.digest for r in local + remote if r.score is None]
    if failed:
        raise SystemExit(f"evaluations failed: {failed}")
    a = {r.digest: r.score.log_loss for r in local}
    b = {r.digest: r.score.log_loss for r in remote}
    assert a.keys() == b.keys(), "the arms scored different candidates"
    max_diff = max(abs(a[d] - b[d]) for d in a)
    one, many = 60 * n / local_s, 60 * n / ray_s
    # seconds one candidate takes inside its evaluator (median), and the Ray arm's first results (worker start)
    med_local, med_ray = (statistics.median(r.score.seconds for r in rs) for rs in (local, remote))
    # workers x the ratio of median seconds per candidate: the rate if every worker were always busy, computed from
    # the evaluations' own times, not measured (waits between tasks, stragglers and the last round are left out)
    busy = args.ray_workers * med_local / med_ray
    out = {
        "candidates": n,
        "space": "nasrec-full",
        "data": "sample:criteo",
        "proxy": "finetune (fast recipe)",
        "supernet_epochs": args.supernet_epochs,
        "supernet_seconds": round(supernet_s, 1),
        "torch_threads_per_worker": 1,
        "cpus": os.cpu_count(),
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "in_process": {
            "workers": 1,
            "seconds": round(local_s, 1),
            "candidates_per_minute": round(one, 1),
            "median_seconds_per_candidate": round(med_local, 2),
        },
        "ray": {
            "workers": args.ray_workers,
            "seconds": round(ray_s, 1),
            "candidates_per_minute": round(many, 1),
            "median_seconds_per_candidate": round(med_ray, 2),
            "first_result_seconds": round(remote[0].seconds, 1),
        },
        "ratio": round(many / one, 2),
        "busy_workers_ratio": round(busy, 2),  # computed, not measured: see `busy`
        "max_abs_log_loss_difference": max_diff,
        "versions": {"torch": torch.__version__, "ray": ray.__version__, "python": platform.python_version()},
    }
    print(f"1 worker (in-process):  {one:.1f} candidates/minute ({n} candidates in {local_s:.1f} s)")
    print(f"{args.ray_workers} Ray workers:          {many:.1f} candidates/minute ({n} candidates in {ray_s:.1f} s)")
    print(
        f"ratio ({args.ray_workers} Ray workers / 1 in-process): {many / one:.2f}x on {os.cpu_count()} CPUs, "
        f"torch 1 thread per worker; scores equal (max |diff| {max_diff:.1e})"
    )
    print(
        f"per candidate inside the evaluator (median): {med_local:.2f} s in-process, {med_ray:.2f} s per Ray "
        f"worker; {args.ray_workers} x their ratio {busy:.2f}x (computed for always-busy workers, not measured); "
        f"first Ray result after {out['ray']['first_result_seconds']} s "
        f"(worker start, supernet load); load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
