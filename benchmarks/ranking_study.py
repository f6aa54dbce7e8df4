"""The ranking study against a denoised reference, with the paper's ablations (Tables 2 and 3).

Genotypes: `--n` sampled NASRec-Full genotypes (single-operator any-connection). Reference: each trained from
scratch with early stopping, averaged over `--seeds` seeds (regret on oracle data); the reference's own
seed-to-seed Kendall tau is the ceiling. Proxies: `params`, `flops`; on the paper's supernet (single-operator
any-connection sampler, the default schedule) inherited weights (`none`), `fast` and `paper` fine-tuning; the
same three on supernets trained with the single-path and the any-path samplers; and `none`/`fast` on supernets
with other schedules (longer, shorter warm-up floor) to pick the schedule that serves the proxies best.

Resumable: rerun the same command and finished evaluations are kept (`OUT/scores.jsonl`).

`--ablation dot-balancing` runs the paper's Table-3 ablation instead: two supernets, one with the built-in
(operator-balanced) Dot-Product and one with `dot-unbalanced` (benchmarks/dot_unbalanced.py, a plug-in
operator) in its place, each scored with inherited weights and `fast` fine-tuning against the same reference.
`--reuse FILE` copies another study's trivial-proxy and reference records (the same genotypes: same data, space,
n and seed) that OUT lacks, so the ablation trains no reference again:

    python benchmarks/ranking_study.py --ablation dot-balancing --out runs/rank-criteo-dot \\
        --reuse docs/results/rank-criteo-scores.jsonl --json docs/results/rank-criteo-dot.json

`--ablation logit-centering`: any-path supernets trained on raw and on batch-centred logits (`center_logits`),
two seeds each, scored with inherited weights, `bias` and `fast`. `--ablation untrained-supernet`: the
any-path supernet after one step, scored like a trained one (docs/ranking-ablations.md, "Path offsets"). `--ablation
hot-centering`: centred any-path supernets at the paper's peak learning rate (warm-up floor 100) for one and
four times `--supernet-epochs`. `--ablation scale-recalibration`: the inherited head Platt-scaled (`scale`)
beside `bias` and `fast`, on the default and the hot centred any-path supernets. `--ablation standardised-head`:
`fast-std` beside `fast` on four supernets, with paired differences. `--ablation supernet-seeds`: `fast-std`
on the paper's, the any-path and the untrained any-path supernet, each trained with three seeds (`seed_spread`
in the JSON: the tau per seed and the seeds' scores pooled); `--ablation paper-seeds`: the same with `paper`
too; `--ablation untrained-seeds`: `fast-std` on the untrained any-path supernet with six seeds (the first
three are `supernet-seeds`' own). `--ablation paper-steps`: `paper` with all its 500 steps (`paper` rows
committed before commit ec9e3ea made one pass over the training rows; `--paper-max-passes 1` reproduces them) beside
`fast-std` on the Table-2 samplers' supernets and the untrained any-path one, with paired differences. All take
`--reuse` and `--no-reference` like the one above (or `--reuse-reference` with a committed reference table).
The variants themselves are in benchmarks/rank_ablations.py.

    python benchmarks/ranking_study.py --data sample:criteo --out runs/rank-criteo --json docs/results/rank-criteo.json
    nasrec data synthetic -o runs/oracle200k --rows 200000 --teacher random:nasrec-full --teacher-scale 2
    python benchmarks/ranking_study.py --data runs/oracle200k --out runs/rank-oracle --full-epochs 3 \\
        --eval-every 156 --json docs/results/rank-oracle.json

`--shard K/N` trains the reference of every N-th genotype from the K-th: N processes, each in its own OUT,
split a reference (e.g. a third seed; with `--variants ''` they train no supernet); `--reuse` takes every
shard's scores.jsonl to merge them. `--retrain LABEL:DIGEST ...` leaves those records of `--reuse` out, so
that they are trained again (e.g. runs made before a fix), and `--reuse-proxies FILE ...` also copies the
proxy scores of studies with the same supernets, to summarise them against a new reference:

    python benchmarks/ranking_study.py --data runs/oracle200k --out runs/rank-oracle-3seeds --full-epochs 3 \\
        --eval-every 156 --seeds 3 --summarize --reuse-proxies docs/results/rank-oracle-scores.jsonl \\
        --reuse runs/rank-oracle-rule/scores.jsonl runs/rank-oracle-3s-{0,1,2}/scores.jsonl

`--reuse-reference TABLE` copies a reference table's runs (a study's `reference.jsonl` or a committed copy, trained
with this study's recipe) and trains only what it lacks: any proxy can be scored against the committed reference
without training it again, e.g. every committed proxy of the bundled rows against their three-seed reference:

    python benchmarks/ranking_study.py --paper-max-passes 1 --out runs/rank-criteo-3seeds --seeds 3 --variants '' \
        --reuse-reference docs/results/rank-criteo-3seeds-reference.jsonl \
        --reuse-proxies docs/results/rank-criteo-scores.jsonl --json docs/results/rank-criteo-3seeds-complete.json

On large data two processes can share a study: one trains the reference (the command above), another the
proxies beside it (`--no-reference`, its own OUT); when they stop, `--reuse` merges the reference into the
proxies' OUT and `--summarize` writes the results. `--variants` picks which supernet variants a call trains and
scores, and in which order (e.g. the schedules before the samplers' ablation):

    python benchmarks/ranking_study.py --data runs/oracle200k --out runs/rank-oracle-proxies --full-epochs 3 \\
        --eval-every 156 --no-reference --reuse runs/rank-oracle/scores.jsonl
    python benchmarks/ranking_study.py --data runs/oracle200k --out runs/rank-oracle-proxies --full-epochs 3 \\
        --eval-every 156 --summarize --reuse runs/rank-oracle/scores.jsonl --json docs/results/rank-oracle.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from rank_ablations import ABLATIONS, PAIRED, SEED_ABLATIONS, variants
from rich.console import Console

from nasrec.cli.rank_study import rank_table
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.full_train import SCRATCH_RECIPE
from nasrec.evaluators.rank_study import distinct_samples, rank_study
from nasrec.evaluators.rank_study_config import RankStudyConfig
from nasrec.evaluators.rank_summary import RankStudyResult, paired_difference, pooled_agreement
from nasrec.evaluators.study_records import StudyScore, read_reference_table
from nasrec.state import read_jsonl


def _study_log(out: Path) -> dict[tuple[str, str], StudyScore]:
    """(label, digest) -> record of the study's log."""
    return {(r.label, r.digest): r for r in read_jsonl(out / "scores.jsonl", StudyScore)}


def paired(config: RankStudyConfig, out: Path, a: str, b: str) -> dict[str, dict[str, float | int]]:
    """Per supernet variant: proxy `a`'s Kendall tau minus `b`'s, with a paired bootstrap interval."""
    done, genotypes = _study_log(out), distinct_samples(config)
    return {
        label: paired_difference(config, done, genotypes, f"{label}/{a}", f"{label}/{b}")
        for label in config.supernets
        if any(key[0] == f"{label}/{a}" for key in done) and any(key[0] == f"{label}/{b}" for key in done)
    }


def seed_spread(config: RankStudyConfig, out: Path, result: RankStudyResult) -> dict[str, dict]:
    """Per supernet kind of the `supernet-seeds` ablation: its proxy's Kendall tau on each training seed, their
    mean and range, and the tau of the seeds' scores pooled (standardised and averaged per genotype)."""
    done, genotypes = _study_log(out), distinct_samples(config)
    kinds: dict[str, list[str]] = {}
    for label, variant in config.supernets.items():
        for proxy in variant.finetune:
            kinds.setdefault(f"{label.split('-seed')[0]}/{proxy}", []).append(f"{label}/{proxy}")
    spread = {}
    for kind, labels in kinds.items():
        taus = [result.agreement[label].kendall_tau for label in labels if label in result.agreement]
        if len(taus) < len(labels):
            continue  # not every seed scored yet
        pooled = pooled_agreement(config, done, genotypes, labels)
        spread[kind] = {
            "kendall_tau": [round(t, 4) for t in taus],
            "mean": round(float(np.mean(taus)), 4),
            "min": round(min(taus), 4),
            "max": round(max(taus), 4),
            "pooled": json.loads(pooled.model_dump_json()),
        }
    return spread


def reference_runs(table: Path, data: str) -> dict[str, int]:
    """What the reference's scratch runs did (its table, `reference.jsonl`): how many ran to the step cap,
    were still improving at their last validation, sat at the constant predictor's validation log loss (within
    0.005) at their first validation, ended there, or had loss spikes counted by the divergence guard."""
    rate = float(open_data(data).split("valid").label.mean())
    constant = -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate)) - 0.005
    runs = [run for entry in read_reference_table(table) for run in entry.runs]
    cap = max((run.steps for run in runs), default=0)
    return {
        "runs": len(runs),
        "step_cap": cap,
        "at_the_cap": sum(run.steps == cap for run in runs),
        "best_at_the_last_validation": sum(run.best_step == run.steps for run in runs),
        "at_the_constant_at_the_first_validation": sum(run.curve[0].log_loss >= constant for run in runs),
        "ended_at_the_constant": sum(run.log_loss >= constant for run in runs),
        "with_guard_counted_spikes": sum(run.diverged_steps > 0 for run in runs),
    }


def shard(text: str) -> tuple[int, int]:
    """`K/N` -> (K, N); rank_study checks the range."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise SystemExit(f"error: --shard {text!r}: expected K/N, e.g. 0/2") from None
    return k, n


def record_key(text: str) -> tuple[str, str]:
    """`LABEL:DIGEST` -> (label, digest)."""
    label, sep, digest = text.partition(":")
    if not (sep and label and digest):
        raise SystemExit(f"error: --retrain {text!r}: expected LABEL:DIGEST, e.g. full/seed1:7428dbad73b7e711")
    return label, digest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="sample:criteo")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path, help="copy results.json here (e.g. docs/results/rank-criteo.json)")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--supernet-epochs", type=float, default=1.0)
    ap.add_argument("--full-epochs", type=float, default=SCRATCH_RECIPE.epochs)
    ap.add_argument("--eval-every", type=int, default=None, help="steps between validations (default: epochs)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--paper-max-passes",
        type=int,
        help="`paper`: passes over the training rows at most (1 reproduces the `paper` rows committed before "
        "commit ec9e3ea; default: as many as its 500 steps need)",
    )
    ap.add_argument("--summarize", action="store_true", help="only summarise what OUT holds so far")
    ap.add_argument("--ablation", choices=list(ABLATIONS), help="run this ablation instead of the main study")
    ap.add_argument(
        "--reuse", type=Path, nargs="+", help="scores.jsonl files whose trivial-proxy and reference records to reuse"
    )
    ap.add_argument(
        "--retrain",
        nargs="+",
        default=[],
        metavar="LABEL:DIGEST",
        help="records of --reuse not copied, so trained again (e.g. full/seed1:7428dbad73b7e711)",
    )
    ap.add_argument(
        "--reuse-proxies", type=Path, nargs="+", help="logs of this study's config whose proxy records to copy too"
    )
    ap.add_argument(
        "--shard", default="0/1", help="K/N: train the reference of every N-th genotype from the K-th (default: all)"
    )
    ap.add_argument(
        "--reuse-reference", type=Path, help="a reference table (reference.jsonl) whose runs to copy; the rest trained"
    )
    ap.add_argument("--no-reference", action="store_true", help="train no reference (it comes through --reuse)")
    ap.add_argument(
        "--variants",
        help="comma-separated: train and score only these supernet variants, in this order (default: all; '': none)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    full = SCRATCH_RECIPE.model_copy(update={"epochs": args.full_epochs, "eval_every": args.eval_every})
    supernets = ABLATIONS[args.ablation](args) if args.ablation else variants(args.supernet_epochs)
    config = RankStudyConfig(
        data=args.data,
        n=args.n,
        reference_seeds=args.seeds,
        full=full,
        supernets=supernets,
        paper_max_passes=args.paper_max_passes,
    )
    start = time.perf_counter()
    result = rank_study(
        config,
        args.out,
        run=not args.summarize,
        reference=not args.no_reference,
        reuse=args.reuse,
        variants=None if args.variants is None else [v for v in args.variants.split(",") if v],
        shard=shard(args.shard),
        retrain=[record_key(r) for r in args.retrain],
        reuse_proxies=args.reuse_proxies,
        reuse_reference=args.reuse_reference,
    )
    Console(width=160).print(rank_table(result))
    differences = {}
    if args.ablation in PAIRED:
        a, b = PAIRED[args.ablation]
        differences = paired(config, args.out, a, b)
        for label, d in differences.items():
            print(f"{label}: {a} minus {b}, Kendall tau {d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]")
    spread = seed_spread(config, args.out, result) if args.ablation in SEED_ABLATIONS else {}
    for kind, entry in spread.items():
        taus = ", ".join(f"{t:.3f}" for t in entry["kendall_tau"])
        pooled = entry["pooled"]["kendall_tau"]
        print(f"{kind}: Kendall tau by supernet seed {taus} (mean {entry['mean']:.3f}); pooled {pooled:.3f}")
    if args.json:
        record = json.loads(result.model_dump_json())
        if differences:
            record["paired_differences"] = differences
        if spread:
            record["seed_spread"] = spread
        record["command_seconds_this_call"] = round(time.perf_counter() - start, 1)
        if not args.ablation:
            record["reference_runs"] = reference_runs(args.out / "reference.jsonl", args.data)
            print("reference runs:", record["reference_runs"])
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n")
        if not args.ablation:  # an ablation's reference is the main study's
            reference = args.out / "reference.jsonl"
            (args.json.parent / args.json.name.replace(".json", "-reference.jsonl")).write_text(reference.read_text())


if __name__ == "__main__":
    main()
