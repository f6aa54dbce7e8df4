"""Supernet view vs standalone train-step time (Criteo shape, batch 512, NASRec-Full, 7 blocks).

Prints: the median over sampled single-operator any-connection subnets of view step time, standalone step
time and their ratio (target <= 1.3); the full supernet's step time; the supernet's dense parameter count;
and the embedding lookup with one concatenated table vs one table per field.
A train step = forward, BCE-with-logits loss, backward, optimizer step (Adagrad, sparse embedding grads).

    .venv/bin/python benchmarks/supernet_step.py [--subnets 20] [--steps 3] [--batch 512]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

from nasrec.compiler import Supernet, compile_standalone
from nasrec.compiler.embedding import FeatureEmbedding, PerFieldEmbedding
from nasrec.compiler.optim import SlicedAdagrad
from nasrec.data.spec import preset
from nasrec.genotype import NASREC_FULL, sample


def make_step(model: torch.nn.Module, params, dense, sparse, label, sliced=None):
    """One train step as a closure. `sliced`: a SlicedAdagrad for a local-gradient view (then `params` is
    just the embedding table, which keeps torch's Adagrad with sparse gradients)."""
    opt = torch.optim.Adagrad(params, lr=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def one() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(dense, sparse), label).backward()
        opt.step()
        if sliced is not None:
            sliced.step(model)

    return one


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def paired(steps_fns: list, steps: int) -> list[float]:
    """Median time of each step function, run alternately (so machine load hits all of them alike)."""
    for fn in steps_fns:
        fn()  # warm-up: allocations, optimizer state
    times: list[list[float]] = [[] for _ in steps_fns]
    for _ in range(steps):
        for fn, ts in zip(steps_fns, times, strict=True):
            ts.append(timed(fn))
    return [statistics.median(ts) for ts in times]


def embedding_time(module: torch.nn.Module, sparse: torch.Tensor, reps: int = 20) -> float:
    out = module(sparse)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        out = module(sparse)
        out.sum().backward()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subnets", type=int, default=20)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plain", action="store_true", help="also time the plain-autograd view with torch Adagrad")
    args = ap.parse_args()
    torch.set_num_threads(2)
    warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
    torch.manual_seed(args.seed)
    features = preset("criteo", cap=500_000)
    b = args.batch
    dense = torch.rand(b, features.n_dense)
    sparse = torch.stack([torch.randint(0, c, (b,)) for c in features.cardinalities], 1)
    label = torch.randint(0, 2, (b,)).float()

    supernet = Supernet(NASREC_FULL, features, layernorm=True)
    print(
        f"supernet dense parameters: {supernet.num_dense_params() / 1e6:.1f}M "
        f"(reference Full supernet: 171.5M); embedding rows: {supernet.embedding.num_rows:,}"
    )

    emb = [supernet.embedding.table.weight]
    sliced = SlicedAdagrad(supernet, lr=0.01)
    views, plain, alones = [], [], []
    for i in range(args.subnets):
        g = sample(NASREC_FULL, "single-operator-any-connection", args.seed + i)
        view = supernet.view(g).set_local_grads()
        model = compile_standalone(g, features, inherit=supernet)
        fns = [
            make_step(view, emb, dense, sparse, label, sliced=sliced),
            make_step(model, model.parameters(), dense, sparse, label),
        ]
        if args.plain:
            fns.append(make_step(supernet.view(g), supernet.parameters(), dense, sparse, label))
        tv, ts, *rest = paired(fns, args.steps)
        tp = rest[0] if rest else 0.0
        views.append(tv), alones.append(ts), plain.append(tp)
        extra = f"  plain-autograd view {tp * 1e3:7.1f} ms ({tp / ts:.2f})" if args.plain else ""
        print(
            f"  subnet {i:2d}: view {tv * 1e3:7.1f} ms  standalone {ts * 1e3:7.1f} ms  ratio {tv / ts:.2f}{extra}  "
            f"({view.num_dense_params() / 1e6:.2f}M dense params)",
            flush=True,
        )
        del model
    ratios = [v / s for v, s in zip(views, alones, strict=True)]
    print(f"median over {args.subnets} single-operator any-connection subnets (batch {b}, 2 threads):")
    print(f"  view step (local grads + SlicedAdagrad)  {statistics.median(views) * 1e3:7.1f} ms")
    print(f"  standalone step (torch Adagrad)         {statistics.median(alones) * 1e3:7.1f} ms")
    print(
        f"  ratio view / standalone: median {statistics.median(ratios):.2f}  "
        f"ratio of medians {statistics.median(views) / statistics.median(alones):.2f}  (target <= 1.3)"
    )
    if args.plain:
        print(
            f"  plain-autograd view + torch Adagrad over the supernet: median ratio "
            f"{statistics.median(p / s for p, s in zip(plain, alones, strict=True)):.2f}"
        )

    full = supernet.view(sample(NASREC_FULL, "all-operators", args.seed)).set_local_grads()
    (tf,) = paired([make_step(full, emb, dense, sparse, label, sliced=sliced)], args.steps)
    print(f"full supernet step: {tf * 1e3:.1f} ms")

    one, per_field = FeatureEmbedding(features), PerFieldEmbedding(features)
    print(
        f"embedding lookup + backward, batch {b}: one concatenated table {embedding_time(one, sparse) * 1e3:.2f} ms, "
        f"one table per field {embedding_time(per_field, sparse) * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main()
