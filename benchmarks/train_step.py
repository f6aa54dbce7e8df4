"""Training-step throughput, previous code path vs current, in one process (issue 18).

For the six NasRec-ref models (tests/data/nasrec_ref, at their datasets' shapes), the zoo and sampled NASRec-Full
subnets (Criteo shape): ms per standalone train step (forward, BCE, backward, clip, Adagrad as `Trainer` runs
it) with the previous code path (the code before issue 18: per-tensor Adagrad, torch's sparse Adagrad for the
embeddings, SDPA on `qkv[i]` attention inputs, torch's LayerNorm; `previous_code_path`) and the current one
(`RowSparseAdagrad`, the fused CPU attention, LayerNorm and Adagrad kernels of nasrec/compiler/fused.py),
alternated step by step so machine load hits both alike, in process CPU time; GFLOP/s (3 x forward FLOPs per
example, fvcore) as a share of a 2048^2 fp32 matmul measured in the same run. Also the supernet-view step (local grads +
SlicedAdagrad) and the pipeline's top-k stage (FullTrain, paper scratch recipe) on the bundled Criteo rows.
`--compile N`: also time `torch.compile` (compile seconds, compiled ms per step) on the first N models.
Per model also the share of the current step spent in matmul kernels (torch.profiler, CPU time) and the
speedup that would remain if every other operation took no time: the bound any fp32 rewrite of the same model
can reach with this machine's matmul kernels.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_step.py --json docs/results/train-step.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import torch

from nasrec.compiler import Supernet, compile_standalone, cost, fused
from nasrec.compiler.optim import RowSparseAdagrad, SlicedAdagrad
from nasrec.data.spec import preset
from nasrec.evaluators.full_train import SCRATCH_RECIPE, FullTrain
from nasrec.evaluators.optimizers import previous_code_path
from nasrec.evaluators.training import TrainConfig, Trainer
from nasrec.genotype import NASREC_FULL, load, sample

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "data" / "nasrec_ref"
ZOO = ROOT / "nasrec" / "genotype" / "zoo"
CLOCK = time.process_time
"""Steps are timed in process CPU seconds: on a machine shared with other jobs, wall time also counts the time
the scheduler gives to them (a step's CPU time is the same work whoever else runs)."""


def matmul_gflops(n: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    ts = []
    for _ in range(reps):
        t = CLOCK()
        a @ b
        ts.append(CLOCK() - t)
    return 2 * n**3 / min(ts) / 1e9


def data(features, b: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    dense = torch.rand(b, features.n_dense, generator=gen)
    sparse = torch.stack([torch.randint(0, c, (b,), generator=gen) for c in features.cardinalities], 1)
    return dense, sparse, torch.randint(0, 2, (b,), generator=gen).float()


def trainer_step(model, batch, previous: bool, compiled: bool = False):
    """A closure running one `Trainer` step on `batch` under the chosen code path."""
    with previous_code_path(previous):
        tr = Trainer(model, TrainConfig(), compile=compiled)
    if compiled:
        fwd = model.compiled_forward()
        tr.forward = lambda d, s, step: fwd(d, s)

    def one() -> None:
        with previous_code_path(previous):
            tr._train_step(batch, 0.5)

    return one


MATMUL_KERNELS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def matmul_fraction(step, steps: int) -> float:
    """The share of `steps` calls of `step` (CPU time, torch.profiler) spent in matmul kernels, each with what
    it calls (addmm's bias broadcast); one call first, unprofiled (first-call allocations, a new optimizer's
    state)."""
    step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    events = prof.key_averages()
    matmul = sum(e.cpu_time_total for e in events if e.key in MATMUL_KERNELS)
    return matmul / sum(e.self_cpu_time_total for e in events)


def paired(fns, steps: int) -> list[float]:
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(steps):
        for fn, ts in zip(fns, times, strict=True):
            t = CLOCK()
            fn()
            ts.append(CLOCK() - t)
    return [statistics.median(ts) for ts in times]


def models(n_sampled: int, seed: int):
    out = [(p.stem.replace("_best_1shot", ""), load(p), p.stem.split("_")[0]) for p in sorted(REF.glob("*.json"))]
    out += [
        (f"nasrec-full #{seed + i}", sample(NASREC_FULL, "single-operator-any-connection", seed + i), "criteo")
        for i in range(n_sampled)
    ]
    zoo = [(f"zoo {p.stem}", load(p), "criteo") for p in sorted(ZOO.glob("*.json"))]
    return out, zoo


def geomean(xs):
    return math.exp(statistics.fmean(math.log(x) for x in xs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subnets", type=int, default=10)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--cap", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compile", type=int, default=0, help="also time torch.compile on the first N models")
    ap.add_argument("--topk", type=int, default=2, help="top-k stage: candidates trained (0: skip)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    print(f"fused CPU kernels: {'on' if fused.extension() is not None else 'unavailable'}", flush=True)
    peak = matmul_gflops()
    print(f"2048^2 fp32 matmul: {peak:.1f} GFLOP/s (1 thread)", flush=True)
    rows = []
    main_models, zoo = models(args.subnets, args.seed)
    for i, (name, g, ds) in enumerate(main_models + zoo):
        features = preset(ds, cap=args.cap)
        batch = data(features, args.batch, args.seed)
        torch.manual_seed(args.seed)
        m_old = compile_standalone(g, features)
        m_new = compile_standalone(g, features)
        m_new.load_state_dict(m_old.state_dict())
        t_old, t_new = paired([trainer_step(m_old, batch, True), trainer_step(m_new, batch, False)], args.steps)
        mm = matmul_fraction(trainer_step(m_new, batch, False), args.steps)
        flops = 3 * cost(g, preset(ds, cap=1000), layernorm=True).flops * args.batch
        row = {
            "model": name,
            "group": "zoo" if (name, g, ds) in zoo else "main",
            "ms_previous": round(t_old * 1e3, 1),
            "ms_current": round(t_new * 1e3, 1),
            "speedup": round(t_old / t_new, 3),
            "matmul_share_previous": round(flops / t_old / 1e9 / peak, 4),
            "matmul_share_current": round(flops / t_new / 1e9 / peak, 4),
            "matmul_kernel_fraction": round(mm, 3),
            "speedup_bound": round(t_old / (t_new * mm), 3),
        }
        if i < args.compile:
            t = time.perf_counter()  # wall: inductor compiles in worker processes
            step_c = trainer_step(m_new, batch, False, compiled=True)
            step_c()
            row["compile_s"] = round(time.perf_counter() - t, 1)
            t_e, t_c = paired([trainer_step(m_new, batch, False), step_c], args.steps)
            row["ms_eager_again"], row["ms_compiled"] = round(t_e * 1e3, 1), round(t_c * 1e3, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
        del m_old, m_new

    main_rows = [r for r in rows if r["group"] == "main"]
    gm = geomean([r["speedup"] for r in main_rows])
    bound = geomean([r["speedup_bound"] for r in main_rows])
    print(f"geometric-mean standalone speedup over {len(main_rows)} models: {gm:.3f} (target 2)")
    print(f"  bound with every non-matmul operation free: {bound:.3f}")

    # supernet-view step: local grads + SlicedAdagrad (+ the embedding's Adagrad of each path), the same subnets
    features = preset("criteo", cap=args.cap)
    dense, sparse, label = data(features, args.batch, args.seed)
    supernet = Supernet(NASREC_FULL, features)
    sliced = SlicedAdagrad(supernet, lr=0.01)
    table = [supernet.embedding.table.weight]
    emb_opts = {True: torch.optim.Adagrad(table, lr=0.01), False: RowSparseAdagrad(table, lr=0.01)}
    view_rows = []
    for i in range(args.subnets):
        view = supernet.view(sample(NASREC_FULL, "single-operator-any-connection", args.seed + i)).set_local_grads()

        def step(previous: bool, view=view) -> None:
            with previous_code_path(previous):
                emb_opts[previous].zero_grad(set_to_none=True)
                torch.nn.functional.binary_cross_entropy_with_logits(view(dense, sparse), label).backward()
                sliced.step(view)
                emb_opts[previous].step()

        t_old, t_new = paired([lambda: step(True), lambda: step(False)], args.steps)
        view_rows.append(
            {"subnet": args.seed + i, "ms_previous": round(t_old * 1e3, 1), "ms_current": round(t_new * 1e3, 1)}
        )
        print(json.dumps(view_rows[-1]), flush=True)
    view_gm = geomean([r["ms_previous"] / r["ms_current"] for r in view_rows])
    print(f"geometric-mean supernet-view speedup: {view_gm:.3f} (target 1.5)")

    topk = {}
    if args.topk:
        recipe = SCRATCH_RECIPE.model_copy(update={"epochs": 2.0})
        cands = [sample(NASREC_FULL, "single-operator-any-connection", 100 + i) for i in range(args.topk)]
        for label_, previous in (("previous", True), ("current", False)) * 2:  # the first pair warms caches up
            with previous_code_path(previous):
                full = FullTrain(data="sample:criteo", train=recipe)
                t = CLOCK()
                scores = full.evaluate(cands)
                topk[label_] = {"s": round(CLOCK() - t, 1), "log_loss": [s.log_loss for s in scores]}
        print(f"top-k stage ({args.topk} candidates, sample:criteo, 2 epochs): {topk}")

    if args.json:
        note = (
            "CPU, 1 thread, on a 2-core machine shared with other jobs: ms are process CPU time per step (median), "
            "the matmul rate is measured the same way; ratios compare paths alternated step by step in the same "
            "process. No GPU was lent."
        )
        out = summary(
            "train_step.py",
            args,
            note=note,
            batch=args.batch,
            matmul_gflops=round(peak, 1),
            standalone=rows,
            standalone_geomean_speedup=round(gm, 3),
            standalone_geomean_speedup_bound=round(bound, 3),
            supernet_view=view_rows,
            supernet_view_geomean_speedup=round(view_gm, 3),
            topk_stage=topk,
        )
        args.json.write_text(json.dumps(out, indent=2) + "\n")


def summary(script: str, args: argparse.Namespace, **fields) -> dict:
    """A throughput benchmark's JSON: the command that wrote it (its options; never `--json`), the niceness and
    machine it ran at, then `fields`."""
    options = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "json" and v is not None)
    return {
        "command": f"OMP_NUM_THREADS=1 python benchmarks/{script} {options}",
        "niceness": os.nice(0),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        **fields,
    }


if __name__ == "__main__":
    main()
