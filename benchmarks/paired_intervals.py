"""Seconds and peak memory of the paired intervals (nasrec.evaluators.stats), bootstrap against analytic.

One pair of synthetic models (two noisy views of one latent click score) on `--rows` test rows, as [rows] and
as [seeds, rows] logits: the log-loss difference by bootstrap (2000 resamples) and normal interval, the AUC
difference by bootstrap (500 resamples, as the pipeline's final stage) and DeLong. A bootstrap that would run
past `--budget` seconds is timed on fewer resamples (after a short pilot) and its seconds extrapolated to the
full count; its interval is then that of the fewer resamples (rougher; not shown under 20). Peak RSS is
getrusage's maximum resident size, reset before each call (/proc/self/clear_refs); `before` is the resident
size before the call (mostly the data). Each call runs in a forked child. Seconds are the call's CPU time
(numpy on one thread: its wall time on an idle core; a shared machine's load does not inflate them).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/paired_intervals.py --rows 100000 1000000 4600000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import resource
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from nasrec.evaluators.stats import Interval, paired_auc_diff, paired_log_loss_diff

_PAGE = resource.getpagesize()


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE / 2**20


def _timed(call: Callable[[int], Interval], resamples: int) -> tuple[Interval, float, float, float]:
    """`call(resamples)` in a forked child (what one call leaves on the heap does not carry to the next): its
    interval, seconds, resident MB before, and peak resident MB during it."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        with contextlib.suppress(OSError):  # otherwise the peak covers the parent's as well
            Path("/proc/self/clear_refs").write_text("5")  # the peak so far becomes the current size
        before = _rss_mb()
        t = time.process_time()
        out = call(resamples)
        seconds = time.process_time() - t
        with os.fdopen(write, "wb") as f:
            pickle.dump((out, seconds, before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), f)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        result = pickle.load(f)
    os.waitpid(pid, 0)
    return result


def _models(n: int, seeds: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels drawn from a latent logit; model a sees it with noise sd 0.5, model b with sd 0.7, per seed."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(-1.5, 1.0, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-latent))).astype(np.float64)
    za, zb = np.empty((seeds, n)), np.empty((seeds, n))
    for i in range(seeds):
        za[i] = latent + rng.normal(0, 0.5, n)
        zb[i] = latent + rng.normal(0, 0.7, n)
    return labels, za, zb


def _bootstrap(call: Callable[[int], Interval], full: int, pilot: int, budget: float) -> tuple:
    """`_timed` on `full` resamples, or on as many as `budget` seconds allow after a pilot of `pilot`, the seconds
    extrapolated to `full` (linearly through both timings; from the pilot alone, the fixed cost taken as one
    resample's: the estimate on all rows costs about as much); and the resamples timed."""
    out, t_pilot, before, peak = _timed(call, pilot)
    r = min(full, max(pilot, int(budget * pilot / t_pilot)))
    if r == pilot:
        seconds = t_pilot * (full + 1) / (pilot + 1)
    else:
        out, t, before, peak = _timed(call, r)
        seconds = t + (full - r) * (t - t_pilot) / (r - pilot)
    return out, seconds, before, peak, r


def _lines(n: int, seeds: int, budget: float) -> None:
    y, za, zb = _models(n, seeds)
    if seeds == 1:
        za, zb = za[0], zb[0]
    for metric, fn, full, pilot, analytic in (
        ("log loss", paired_log_loss_diff, 2000, 10, "normal"),
        ("AUC", paired_auc_diff, 500, 1, "delong"),
    ):
        for method in ("bootstrap", analytic):
            call = partial(fn, y, za, zb, method=method)

            def resampled(r: int, call: Callable[..., Interval] = call) -> Interval:
                return call(n_resamples=r)

            if method == "bootstrap":
                out, seconds, before, peak, r = _bootstrap(resampled, full, pilot, budget)
            else:
                (out, seconds, before, peak), r = _timed(resampled, full), full
            shown = f"{out}  half-width {(out.high - out.low) / 2:.2e}" if r >= 20 else "(too few resamples)"
            note = f"  (timed {r} of {full} resamples, seconds extrapolated)" if r < full else ""
            print(
                f"{n:>9,} {seeds:>5} {metric:8} {method:9} {seconds:>9.2f} {peak:>8.0f} {before:>8.0f}  {shown}{note}",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 4_600_000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 3], help="1: [rows] logits; more: [seeds, rows]")
    ap.add_argument("--budget", type=float, default=5.0, help="seconds a bootstrap may run before extrapolating")
    args = ap.parse_args()
    import scipy.stats  # noqa: F401  imported once here, not timed in the first analytic call

    print(f"{'rows':>9} {'seeds':>5} {'metric':8} {'method':9} {'seconds':>9} {'peak MB':>8} {'before':>8}  interval")
    for n in args.rows:
        for seeds in args.seeds:
            _lines(n, seeds, args.budget)


if __name__ == "__main__":
    main()
