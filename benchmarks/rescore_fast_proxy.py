"""Re-score a finished rank study's genotypes with the `fast` fine-tuned proxy at other L2 penalties, against
the study's own scratch-training scores (how the README's L2 follow-up was measured).

    .venv/bin/python benchmarks/rescore_fast_proxy.py runs/rank-synthetic --data runs/syn40k --l2 1e-4 0.01 0.1 0.3 1
    .venv/bin/python benchmarks/rescore_fast_proxy.py runs/rank-criteo --data sample:criteo --l2 1e-4 0.1
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from nasrec.evaluators import FinetunedProxy
from nasrec.evaluators.rank_study import StudyScore
from nasrec.evaluators.ranking import agreement
from nasrec.state import read_jsonl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path, help="a `nasrec rank-study` output folder")
    ap.add_argument("--data", required=True, help="the study's --data")
    ap.add_argument("--l2", type=float, nargs="+", required=True)
    ap.add_argument("--train-rows", type=int, default=8192)
    args = ap.parse_args()
    torch.set_num_threads(2)
    full = {r.digest: r for r in read_jsonl(args.study / "scores.jsonl", StudyScore) if r.label == "full"}
    digests = list(full)
    genotypes = [full[d].genotype for d in digests]
    ckpt = str(args.study / "supernet" / "checkpoint.pt")
    shared = None
    for l2 in args.l2:
        ev = FinetunedProxy(data=args.data, supernet=ckpt, recipe="fast", train_rows=args.train_rows, l2=l2)
        if shared is not None:
            ev.supernet = shared
        shared = ev.supernet
        scores = [s.log_loss for s in ev.evaluate(genotypes)]
        a = agreement(scores, [full[d].score.log_loss for d in digests])
        print(f"l2 {l2:g}: Kendall tau {a.kendall_tau:.3f}  Spearman rho {a.spearman_rho:.3f}  "
              f"top-{a.top_k} overlap {a.top_k_overlap:.2f}", flush=True)


if __name__ == "__main__":
    main()
