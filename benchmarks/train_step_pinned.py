"""Training-step throughput against a pinned copy of the code from before issue 18 (`benchmarks/train_step.py`
compares against the previous path kept behind flags, which leaves out every change made without one).

Each version runs in its own worker process (`--worker ROOT`: `ROOT` first on `sys.path`, so `import nasrec`
is that version), and the parent alternates them step by step: worker A steps, then worker B, and so on, each
timing its own step in process CPU time, so machine load hits both alike. The same models as train_step.py
(the six NasRec-ref models, `--subnets` sampled NASRec-Full subnets and the zoo; genotype files written by the
parent, so both versions build the same networks from the same seed and batch), the supernet-view step
(local grads + `SlicedAdagrad`, and the embeddings' Adagrad each version's supernet training uses) and the
top-k stage (`FullTrain` on the bundled Criteo rows, 2 epochs). Make the pinned copy with

    git archive <commit> nasrec | tar -x -C .before/ && git rev-parse <commit> > .before/COMMIT
    OMP_NUM_THREADS=1 python benchmarks/train_step_pinned.py --before .before --json docs/results/train-step-pinned.json

(issue 18's first commit is be8e1cb: the code before it is be8e1cb~1). `--profile NAME` instead profiles one
model's standalone step in both versions (torch.profiler, self CPU ms per step by operator) and prints the
operators whose time differs most.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "nasrec" / "genotype" / "zoo"


# -- worker (runs with one version's package first on sys.path) ---------------------------------------------
def worker(root: str) -> None:
    sys.path.insert(0, root)
    replies = os.fdopen(os.dup(1), "w")  # the protocol's channel; anything else printed goes to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import warnings

    import torch

    from nasrec.compiler import Supernet, compile_standalone
    from nasrec.compiler.optim import SlicedAdagrad
    from nasrec.data.spec import preset
    from nasrec.evaluators.full_train import SCRATCH_RECIPE, FullTrain
    from nasrec.evaluators.training import TrainConfig, Trainer
    from nasrec.genotype import NASREC_FULL, load

    try:
        from nasrec.compiler.optim import RowSparseAdagrad as EmbeddingAdagrad
    except ImportError:  # before issue 18: torch's sparse Adagrad
        from torch.optim import Adagrad as EmbeddingAdagrad

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    step = None
    supernets: dict = {}

    def data(features, b: int, seed: int):  # train_step.data's batch; importing it would import the current nasrec
        gen = torch.Generator().manual_seed(seed)
        dense = torch.rand(b, features.n_dense, generator=gen)
        sparse = torch.stack([torch.randint(0, c, (b,), generator=gen) for c in features.cardinalities], 1)
        return dense, sparse, torch.randint(0, 2, (b,), generator=gen).float()

    for line in sys.stdin:
        msg = json.loads(line)
        op, reply = msg["op"], {}
        if op == "step":
            t = time.process_time()
            step()
            reply["s"] = time.process_time() - t
        elif op == "standalone":
            features = preset(msg["dataset"], cap=msg["cap"])
            batch = data(features, msg["batch"], msg["seed"])
            torch.manual_seed(msg["seed"])
            trainer = Trainer(compile_standalone(load(msg["genotype"]), features), TrainConfig())

            def step(trainer=trainer, batch=batch) -> None:
                trainer._train_step(batch, 0.5)

        elif op == "view":
            key = (msg["cap"], msg["batch"], msg["seed"])
            if key not in supernets:
                features = preset("criteo", cap=msg["cap"])
                torch.manual_seed(msg["seed"])
                sn = Supernet(NASREC_FULL, features)
                emb_opt = EmbeddingAdagrad([sn.embedding.table.weight], lr=0.01)
                supernets[key] = (sn, data(features, msg["batch"], msg["seed"]), SlicedAdagrad(sn, lr=0.01), emb_opt)
            sn, (dense, sparse, label), sliced, emb = supernets[key]
            view = sn.view(load(msg["genotype"])).set_local_grads()

            def step(view=view, dense=dense, sparse=sparse, label=label, sliced=sliced, emb=emb) -> None:
                emb.zero_grad(set_to_none=True)
                torch.nn.functional.binary_cross_entropy_with_logits(view(dense, sparse), label).backward()
                sliced.step(view)
                emb.step()

        elif op == "profile":  # self CPU ms per step of each operator over `steps` steps
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                for _ in range(msg["steps"]):
                    step()
            reply = {e.key: e.self_cpu_time_total / 1e3 / msg["steps"] for e in prof.key_averages()}
        elif op == "topk":
            full = FullTrain(data="sample:criteo", train=SCRATCH_RECIPE.model_copy(update={"epochs": 2.0}))
            cands = [load(p) for p in msg["genotypes"]]
            t = time.process_time()
            scores = full.evaluate(cands)
            reply = {"s": time.process_time() - t, "log_loss": [s.log_loss for s in scores]}
        elif op == "version":
            import nasrec

            reply["path"] = str(Path(nasrec.__file__).parent)
        print(json.dumps(reply), file=replies, flush=True)


# -- parent ---------------------------------------------------------------------------------------------------
class Worker:
    def __init__(self, root: Path) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),  # not the checkout: its `nasrec` must not shadow ROOT
        )

    def ask(self, **msg) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker for {msg} exited (code {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self.proc.wait()


def paired(workers: list[Worker], steps: int) -> list[float]:
    """Median step seconds per worker, the workers stepped in turn (one warm-up step each first)."""
    for w in workers:
        w.ask(op="step")
    times: list[list[float]] = [[] for _ in workers]
    for _ in range(steps):
        for w, ts in zip(workers, times, strict=True):
            ts.append(w.ask(op="step")["s"])
    return [statistics.median(ts) for ts in times]


def genotype_files(folder: Path, subnets: int, seed: int) -> tuple[list[tuple[str, Path, str, str]], list[Path]]:
    """(name, file, dataset, group) per model of train_step.py, and the top-k stage's candidates, written by the
    current code (both versions then build the same networks)."""
    from train_step import models

    from nasrec.genotype import NASREC_FULL, sample, save

    main_models, zoo = models(subnets, seed)
    out = []
    for i, (name, g, ds) in enumerate(main_models + zoo):
        path = folder / f"model{i}.json"
        save(g, path)
        out.append((name, path, ds, "main" if i < len(main_models) else "zoo"))
    cands = []
    for i in range(2):
        path = folder / f"candidate{100 + i}.json"
        save(sample(NASREC_FULL, "single-operator-any-connection", 100 + i), path)
        cands.append(path)
    return out, cands


def profile_diff(workers: list[Worker], spec: dict, steps: int, top: int = 20) -> None:
    """Print each operator's self CPU ms per step in both versions (three profiles of `steps` steps each,
    alternated, averaged), the `top` largest differences first."""
    for w in workers:
        w.ask(op="standalone", **spec)
    paired(workers, 3)  # warm up
    ms: list[dict[str, float]] = [{}, {}]
    for _ in range(3):
        for w, acc in zip(workers, ms, strict=True):
            for k, v in w.ask(op="profile", steps=steps).items():
                acc[k] = acc.get(k, 0.0) + v / 3
    print(f"self CPU ms per step, total: before {sum(ms[0].values()):.2f}, current {sum(ms[1].values()):.2f}")
    for k in sorted(set(ms[0]) | set(ms[1]), key=lambda k: -abs(ms[1].get(k, 0) - ms[0].get(k, 0)))[:top]:
        a, b = ms[0].get(k, 0.0), ms[1].get(k, 0.0)
        print(f"{k[:60]:60s} before {a:7.2f}  current {b:7.2f}  {b - a:+7.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--before", type=Path, help="a pinned copy of the package (`.before/`, holding nasrec/)")
    ap.add_argument("--subnets", type=int, default=10)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--cap", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--topk", type=int, default=1, help="top-k stage: candidates trained (0: skip)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--profile", metavar="NAME", help="profile this model in both versions instead (e.g. 'zoo dlrm')")
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker)
    if args.before is None or not (args.before / "nasrec" / "__init__.py").is_file():
        ap.error("--before must be a folder holding a pinned copy of the package (nasrec/__init__.py)")
    sys.path.insert(0, str(ROOT / "benchmarks"))  # the parent imports the current package and train_step.py
    import torch
    from train_step import geomean, matmul_gflops, summary

    torch.set_num_threads(1)
    commit_file = args.before / "COMMIT"
    commit = commit_file.read_text().strip() if commit_file.is_file() else "unknown"
    peak = matmul_gflops()
    print(f"pinned copy: {args.before} (commit {commit}); 2048^2 fp32 matmul: {peak:.1f} GFLOP/s (1 thread)")
    with tempfile.TemporaryDirectory() as tmp:
        models, cands = genotype_files(Path(tmp), args.subnets, args.seed)
        before, after = Worker(args.before.resolve()), Worker(ROOT)
        paths = before.ask(op="version")["path"], after.ask(op="version")["path"]
        assert paths[0] != paths[1], f"both workers import {paths[0]}"
        if args.profile:
            found = [m for m in models if m[0] == args.profile]
            if not found:
                ap.error(f"--profile: no model named {args.profile!r} (one of: {', '.join(m[0] for m in models)})")
            _, path, ds, _ = found[0]
            spec = {"genotype": str(path), "dataset": ds, "batch": args.batch, "cap": args.cap, "seed": args.seed}
            return profile_diff([before, after], spec, args.steps)
        rows = []
        for name, path, ds, group in models:
            spec = {"genotype": str(path), "dataset": ds, "batch": args.batch, "cap": args.cap, "seed": args.seed}
            for w in (before, after):
                w.ask(op="standalone", **spec)
            t_old, t_new = paired([before, after], args.steps)
            rows.append(
                {
                    "model": name,
                    "group": group,
                    "ms_before": round(t_old * 1e3, 1),
                    "ms_current": round(t_new * 1e3, 1),
                    "speedup": round(t_old / t_new, 3),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
        gm = geomean([r["speedup"] for r in rows if r["group"] == "main"])
        print(f"geometric-mean standalone speedup over {sum(r['group'] == 'main' for r in rows)} models: {gm:.3f}")
        view_rows = []
        for name, path, _, _ in [m for m in models if m[0].startswith("nasrec-full")]:
            for w in (before, after):
                w.ask(op="view", genotype=str(path), batch=args.batch, cap=args.cap, seed=args.seed)
            t_old, t_new = paired([before, after], args.steps)
            view_rows.append({"subnet": name, "ms_before": round(t_old * 1e3, 1), "ms_current": round(t_new * 1e3, 1)})
            print(json.dumps(view_rows[-1]), flush=True)
        view_gm = geomean([r["ms_before"] / r["ms_current"] for r in view_rows])
        print(f"geometric-mean supernet-view speedup: {view_gm:.3f}")
        topk = {}
        if args.topk:
            for label, w in (("before", before), ("current", after)):
                topk[label] = w.ask(op="topk", genotypes=[str(p) for p in cands[: args.topk]])
            print(f"top-k stage ({args.topk} candidates, sample:criteo, 2 epochs): {topk}")
        before.close()
        after.close()
    if args.json:
        note = (
            "CPU, 1 thread per worker process, the two versions stepped in turn; ms are process CPU time per step "
            "(median). No GPU was lent."
        )
        out = summary(
            "train_step_pinned.py",
            args,
            before_commit=commit,
            note=note,
            matmul_gflops=round(peak, 1),
            standalone=rows,
            standalone_geomean_speedup=round(gm, 3),
            supernet_view=view_rows,
            supernet_view_geomean_speedup=round(view_gm, 3),
            topk_stage=topk,
        )
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
