"""Seconds per candidate of the fine-tuned proxy's `paper` and `fast` recipes, and how alike they rank.

On synthetic Criteo-shaped rows with a planted teacher: trains a supernet on the train split, samples
candidates from NASRec-Full, scores each with both recipes (candidates in groups sharing embedding lookups)
on the same validation rows, and prints seconds per candidate (ratio) and Kendall tau between the two
rankings. With `--ceiling`, the `paper` recipe is run a second time on other fine-tune rows (same
validation rows): how well the reference recipe agrees with itself bounds what any proxy of it can reach.

    .venv/bin/python benchmarks/proxy_speed.py --rows 400000 --candidates 30 --ceiling
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nasrec.data import make_synthetic
from nasrec.evaluators import FinetunedProxy, SupernetTrainingConfig, TrainConfig, train_supernet
from nasrec.evaluators.ranking import agreement
from nasrec.genotype import sample


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--candidates", type=int, default=30)
    ap.add_argument("--supernet-epochs", type=float, default=1.0)
    ap.add_argument("--fast-train-rows", type=int, default=8192)
    ap.add_argument(
        "--valid-rows",
        type=int,
        default=8192,
        help="validation rows scored by both recipes (the same rows; 0: the whole split)",
    )
    ap.add_argument("--ceiling", action="store_true", help="also run `paper` again on other fine-tune rows")
    ap.add_argument("--work", type=Path, default=None, help="folder for data and supernet (default: temporary)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    torch.set_num_threads(2)
    work = args.work or Path(tempfile.mkdtemp(prefix="nasrec-proxy-speed-"))
    data_dir = work / "data"
    if not data_dir.exists():
        make_synthetic(args.rows, seed=0).save(data_dir)
    t = time.perf_counter()
    config = SupernetTrainingConfig(data=str(data_dir), train=TrainConfig(epochs=args.supernet_epochs))
    train_supernet(config, work / "supernet")
    supernet_s = time.perf_counter() - t
    ckpt = str(work / "supernet" / "checkpoint.pt")
    candidates = [sample("nasrec-full", rng=i) for i in range(args.candidates)]
    valid_rows = args.valid_rows or None
    paper = FinetunedProxy(data=str(data_dir), supernet=ckpt, recipe="paper", valid_rows=valid_rows)
    fast = FinetunedProxy(
        data=str(data_dir), supernet=ckpt, recipe="fast", train_rows=args.fast_train_rows, valid_rows=valid_rows
    )
    recipes = {"paper": paper, "fast": fast}
    if args.ceiling:  # the paper recipe again: other fine-tune rows (seed), the same validation rows
        again = FinetunedProxy(data=str(data_dir), supernet=ckpt, recipe="paper", valid_rows=valid_rows, seed=100)
        again.valid_rows = paper.valid_rows
        recipes["paper-again"] = again
    for ev in recipes.values():
        ev.supernet = paper.supernet  # load once, share
    timings, scores = {}, {}
    scoring_start = time.perf_counter()
    for name, ev in recipes.items():
        _ = ev.valid, ev.train_batches  # data subsets gathered before timing (the same for every candidate)
        t = time.perf_counter()
        scores[name] = [s.log_loss for s in ev.evaluate(candidates)]
        timings[name] = (time.perf_counter() - t) / len(candidates)
        print(f"{name}: {timings[name]:.2f} s/candidate", flush=True)
    scoring_s = time.perf_counter() - scoring_start
    a = agreement(scores["fast"], scores["paper"], k=5)
    n_train = len(paper.train_batches) * paper.cfg.step_batch
    out = {
        "rows": args.rows,
        "candidates": args.candidates,
        "supernet_seconds": round(supernet_s, 1),
        "scoring_seconds": round(scoring_s, 1),
        "paper": {
            "seconds_per_candidate": round(timings["paper"], 3),
            "finetune_rows": n_train,
            "valid_rows": sum(len(b.label) for b in paper.valid),
        },
        "fast": {
            "seconds_per_candidate": round(timings["fast"], 3),
            "train_rows": args.fast_train_rows,
            "valid_rows": sum(len(b.label) for b in fast.valid),
        },
        "speedup": round(timings["paper"] / timings["fast"], 1),
        "kendall_tau": round(a.kendall_tau, 3),
        "spearman_rho": round(a.spearman_rho, 3),
        "top5_overlap": a.top_k_overlap,
        "scores": {g.digest(): {name: scores[name][i] for name in scores} for i, g in enumerate(candidates)},
    }
    if args.ceiling:
        c = agreement(scores["paper-again"], scores["paper"], k=5)
        out["paper_vs_itself"] = {
            "kendall_tau": round(c.kendall_tau, 3),
            "spearman_rho": round(c.spearman_rho, 3),
            "top5_overlap": c.top_k_overlap,
            "finetune_rows_shared": _shared_rows(paper, again),
        }
        out.update(ceiling_summary(out["scores"]))
    print(
        f"paper recipe: {timings['paper']:.2f} s/candidate ({n_train:,} fine-tune rows, "
        f"{out['paper']['valid_rows']:,} validation rows)"
    )
    print(
        f"fast recipe:  {timings['fast']:.2f} s/candidate ({args.fast_train_rows:,} cached rows, "
        f"{out['fast']['valid_rows']:,} validation rows)"
    )
    print(f"speed-up (paper / fast): {out['speedup']}x   target >= 20x")
    print(
        f"Kendall tau between the recipes' rankings of {args.candidates} candidates: {a.kendall_tau:.3f}   "
        f"target >= 0.9 (Spearman {a.spearman_rho:.3f}, top-5 overlap {a.top_k_overlap:.2f})"
    )
    if args.ceiling:
        c = out["paper_vs_itself"]
        print(
            f"ceiling: `paper` against itself on other fine-tune rows ({c['finetune_rows_shared']:.0%} of them "
            f"shared): Kendall tau {c['kendall_tau']:.3f} (Spearman {c['spearman_rho']:.3f}, top-5 overlap "
            f"{c['top5_overlap']:.2f})"
        )
        print(
            f"fast against the second paper run: tau {out['fast_vs_paper_again']:.3f}; against the mean of both "
            f"runs: {out['fast_vs_paper_mean']:.3f}; paper's |log loss change| between runs "
            f"{out['paper_run_change']:.4f} vs the candidates' spread (std) {out['paper_spread']:.4f}"
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


def ceiling_summary(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    """From per-candidate scores of `paper`, `paper-again` and `fast`: how `fast` ranks against the second run
    and against the mean of both, and how far `paper` moves between runs against the spread of candidates."""
    p, a, f = (np.array([v[k] for v in scores.values()]) for k in ("paper", "paper-again", "fast"))
    return {
        "fast_vs_paper_again": round(agreement(f, a).kendall_tau, 3),
        "fast_vs_paper_mean": round(agreement(f, (p + a) / 2).kendall_tau, 3),
        "paper_run_change": round(float(np.abs(p - a).mean()), 4),
        "paper_spread": round(float(p.std()), 4),
    }


def _shared_rows(a: FinetunedProxy, b: FinetunedProxy) -> float:
    """Fraction of `a`'s fine-tune rows (by content) that `b` also uses."""

    def rows(ev: FinetunedProxy) -> set[bytes]:
        return {r.tobytes() for bt in ev.train_batches for r in torch.cat([bt.dense, bt.sparse.float()], 1).numpy()}

    ra = rows(a)
    return round(len(ra & rows(b)) / len(ra), 3)


if __name__ == "__main__":
    main()
