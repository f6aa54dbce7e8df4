"""Inference latency and throughput on this CPU: eager PyTorch, the torch.export program and onnxruntime, at
batch 1, 64 and 4,096, for the six NasRec-ref published models and zoo:dlrm.

Each model is built at its dataset's shape (tables capped at `--cap` rows: a lookup costs the same whatever
the table's size, and the files stay small), exported once to each format (the export checks the outputs
against PyTorch within 1e-5), then timed with the three runtimes interleaved round by round, so a load that
changes during the run hits all three alike. Figures are medians of `--rounds` rounds; each round times
enough calls for `--min-seconds`. One thread for every runtime unless `--threads` says otherwise.

    nice -n 10 .venv/bin/python benchmarks/inference.py --json docs/results/inference.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from nasrec.compiler import compile_standalone
from nasrec.compiler.export import example_inputs, export_file, onnx_session, run_onnx
from nasrec.data.spec import preset
from nasrec.genotype import load
from nasrec.genotype.zoo import load_zoo

REF = Path(__file__).resolve().parents[1] / "tests" / "data" / "nasrec_ref"
MODELS = (  # (label, genotype, features preset)
    ("Criteo Small", "criteo_ea_criteo_kaggle_autoctr", "criteo"),
    ("Criteo Full", "criteo_ea_criteo_kaggle_xlarge", "criteo"),
    ("Avazu Small", "avazu_ea_avazu_kaggle_autoctr", "avazu"),
    ("Avazu Full", "avazu_ea_avazu_kaggle_xlarge", "avazu"),
    ("KDD Small", "kdd_ea_kdd_kaggle_autoctr", "kdd"),
    ("KDD Full", "kdd_ea_kdd_kaggle_xlarge", "kdd"),
    ("zoo:dlrm", "zoo:dlrm", "criteo"),
)
RUNTIMES = ("eager", "torch.export", "onnxruntime")
BATCHES = (1, 64, 4096)


def _genotype(ref: str):
    return load_zoo(ref[4:]) if ref.startswith("zoo:") else load(REF / f"{ref}_best_1shot.json")


def _time(call: Callable[[], object], min_seconds: float) -> float:
    """Median seconds per call over enough calls to fill `min_seconds` (at least 3)."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def bench_model(label: str, ref: str, features_name: str, args: argparse.Namespace, work: Path) -> dict:
    features = preset(features_name, cap=args.cap)
    torch.manual_seed(0)
    model = compile_standalone(_genotype(ref), features).eval()
    stem = label.replace(" ", "_").replace(":", "_")
    checks = {
        fmt: export_file(model, features, work / f"{stem}{suffix}", fmt).max_abs_diff
        for fmt, suffix in (("onnx", ".onnx"), ("torch-export", ".pt2"))
    }
    program = torch.export.load(str(work / f"{stem}.pt2")).module()
    session = onnx_session(work / f"{stem}.onnx", threads=args.threads)
    result: dict = {"features": features_name, "max_abs_diff": checks, "batches": {}}
    for batch in BATCHES:
        dense, sparse = example_inputs(features, batch, seed=batch)
        calls = {
            "eager": lambda d=dense, s=sparse: model(d, s),
            "torch.export": lambda d=dense, s=sparse: program(d, s),
            "onnxruntime": lambda d=dense, s=sparse: run_onnx(session, d, s),
        }
        rounds: dict[str, list[float]] = {r: [] for r in RUNTIMES}
        with torch.inference_mode():
            for call in calls.values():
                call()  # warm-up
            for _ in range(args.rounds):
                for name, call in calls.items():
                    rounds[name].append(_time(call, args.min_seconds))
        result["batches"][str(batch)] = {
            name: {
                "latency_ms": round(1e3 * float(np.median(t)), 4),
                "rows_per_s": round(batch / float(np.median(t)), 1),
            }
            for name, t in rounds.items()
        }
        print(
            f"{label:14s} batch {batch:5d}: "
            + "  ".join(f"{n} {v['latency_ms']:.3f} ms" for n, v in result["batches"][str(batch)].items()),
            flush=True,
        )
    return result


def _cpu() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def table(results: dict) -> list[str]:
    runtimes = " | ".join(f"{r} ms (rows/s)" for r in RUNTIMES)
    head = f"| model | batch | {runtimes} | onnxruntime speed-up over eager |"
    out = [head, "|---|---|" + "---|" * len(RUNTIMES) + "---|"]
    for label, r in results["models"].items():
        for batch, cells in r["batches"].items():
            speed = cells["eager"]["latency_ms"] / cells["onnxruntime"]["latency_ms"]
            out.append(
                f"| {label} | {int(batch):,} | "
                + " | ".join(f"{cells[n]['latency_ms']:.3f} ({cells[n]['rows_per_s']:,.0f})" for n in RUNTIMES)
                + f" | {speed:.2f}x |"
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cap", type=int, default=10_000, help="embedding rows per table")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads of every runtime")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-seconds", type=float, default=0.2, help="per runtime, batch and round")
    ap.add_argument("--only", nargs="*", default=None, help="model labels to run (default: all)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import onnxruntime

    results = {
        "command": "nice -n 10 .venv/bin/python benchmarks/inference.py --json docs/results/inference.json",
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "only")},
        "machine": {"cpu": _cpu(), "cores": os.cpu_count(), "load_average_at_start": os.getloadavg()[0]},
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "models": {},
    }
    with tempfile.TemporaryDirectory(prefix="nasrec-inference-") as tmp:
        for label, ref, features_name in MODELS:
            if args.only is None or label in args.only:
                results["models"][label] = bench_model(label, ref, features_name, args, Path(tmp))
    print("\n".join(table(results)))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
