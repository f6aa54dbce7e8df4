"""Does the search win? The whole pipeline with several seeds: NASRecNet against random search with the same
budget (same proxy evaluations, same top-k, same scratch protocol) and the zoo models (same final protocol).

Per seed and pooled: every model's test log loss and AUC (regret on oracle data), the paired 95 % interval of
NASRecNet minus each other model pooled over seeds and test rows (it resamples the test rows: what one set of
trainings scores), the Student-t interval of the per-seed differences (what varies from seed to seed), and in
how many seeds NASRecNet is first. A model a seed's run left out (every training try diverged: `left_out` in the
seed's entry) is in that seed's table only by its absence, and in no mean or interval.
Each seed is one resumable run folder `OUT/seed-S`; rerunning the command finishes what is missing, and seeds
may run in separate processes (`--seeds 0`, `--seeds 1`, then all of them to write the summary).

    python benchmarks/search_quality.py --data sample:criteo --out runs/search-quality \\
        --json docs/results/search-quality-criteo.json
    nasrec data synthetic -o runs/oracle12k --rows 12000 --teacher random:nasrec-full
    python benchmarks/search_quality.py --data runs/oracle12k --out runs/search-quality-oracle \\
        --json docs/results/search-quality-oracle.json

`--against OTHER.json` adds this run minus another run of the benchmark, seed by seed (e.g. two proxies on the
same seeds). `--evaluator` sets the proxy of both searches (default: `finetune` with its defaults); scratch training as
the proxy, at most 4 epochs early-stopped, on the oracle rows:

    python benchmarks/search_quality.py --data runs/oracle12k --out runs/sq-oracle-full --evaluator full \\
        --evaluator-config '{"train": {"epochs": 4, "patience": 2}}' \\
        --json docs/results/search-quality-oracle-scratch-proxy.json

(`--final-protocol retrain` reproduces the earlier results quoted in the README, from before `keep` became
the default.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.scoring import bayes_rate
from nasrec.evaluators.stats import Interval, mean_interval, paired_auc_diff, paired_log_loss_diff
from nasrec.records import Evaluation, RunPaths, Summary, TopKResult
from nasrec.search.pipeline import Pipeline, RunConfig
from nasrec.state import read_jsonl

BUDGET = {"population": 16, "cycles": 6, "tournament": 8, "children": 8}  # 64 proxy evaluations


def run_config(args: argparse.Namespace, seed: int) -> RunConfig:
    return RunConfig(
        data=args.data,
        space=args.space,
        seed=seed,
        supernet_epochs=args.supernet_epochs,
        strategy_options={
            "population": args.population,
            "cycles": args.cycles,
            "tournament": args.tournament,
            "children": args.children,
        }
        | ({"mutations": args.mutations} if args.mutations > 1 else {}),
        top_k=args.top_k,
        topk_seeds=args.topk_seeds,
        final_seeds=args.final_seeds,
        full_epochs=args.epochs,
        final_epochs=args.epochs,
        final_protocol=args.final_protocol,
        zoo=tuple(args.zoo),
        evaluator={"name": args.evaluator, "config": args.evaluator_config},
    )


def in_every_seed(runs: dict[int, tuple[Summary, Path]]) -> list[str]:
    """The final models every seed's run scored (a model a run left out, every try diverged, is compared in none)."""
    names = [r.name for r in next(iter(runs.values()))[0].results]
    return [n for n in names if all(any(r.name == n for r in summary.results) for summary, _ in runs.values())]


def pooled(runs: dict[int, tuple[Summary, Path]], labels: np.ndarray) -> dict[str, dict]:
    """NASRecNet minus each model: per-row log-loss differences pooled over seeds; AUC differences averaged."""
    names = [n for n in in_every_seed(runs) if n != "NASRecNet"]
    out = {}
    for name in names:
        best, other = [], []
        for summary, root in runs.values():
            by_name = {r.name: r for r in summary.results}
            nas = next(r for r in summary.results if r.kind == "nasrec")
            paths = RunPaths(root)  # each model's own test logits (older folders: one file per genotype)
            best.append(np.load(paths.logits_of(nas, summary.results)))
            other.append(np.load(paths.logits_of(by_name[name], summary.results)))
        za, zb = np.concatenate(best), np.concatenate(other)  # [seeds x final seeds, rows]
        out[name] = {
            "log_loss": json.loads(paired_log_loss_diff(labels, za, zb).model_dump_json()),
            "auc": json.loads(paired_auc_diff(labels, za, zb, n_resamples=300).model_dump_json()),
        }
    return out


def over_seeds(per_seed: dict[int, dict]) -> dict[str, dict]:
    """NASRecNet minus each model, one difference per seed (test log loss, each the mean of its final trainings):
    the Student-t 95 % interval of their mean, which covers what varies from seed to seed (the search, the
    trainings); needs two seeds or more."""
    if len(per_seed) < 2:
        return {}
    first, *others = per_seed.values()
    names = [n for n in first["models"] if n != "NASRecNet" and all(n in s["models"] for s in others)]
    out = {}
    for name in names:
        diffs = [s["models"]["NASRecNet"]["log_loss"] - s["models"][name]["log_loss"] for s in per_seed.values()]
        out[name] = json.loads(mean_interval(diffs).model_dump_json())
    return out


def against(per_seed: dict[int, dict], other: dict) -> dict[str, dict]:
    """This run minus another run of this benchmark (`other`: its JSON, e.g. the same seeds with another proxy),
    model by model, on the seeds both ran: the per-seed differences of test log loss and their Student-t 95 %
    interval (two shared seeds or more). A zoo model trained alike in both differs by 0: a check that the two
    runs are comparable."""
    theirs = {int(seed): entry for seed, entry in other["per_seed"].items()}
    seeds = [seed for seed in per_seed if seed in theirs]
    if len(seeds) < 2:
        return {}
    names = [n for n in per_seed[seeds[0]]["models"] if all(n in theirs[s]["models"] for s in seeds)]
    out = {}
    for name in names:
        diffs = [per_seed[s]["models"][name]["log_loss"] - theirs[s]["models"][name]["log_loss"] for s in seeds]
        out[name] = {
            "seeds": seeds,
            "diffs": diffs,
            "interval": json.loads(mean_interval(diffs).model_dump_json()),
        }
    return out


def json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"a JSON object ({{...}}) of the evaluator's settings, not {text}")
    return value


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="sample:criteo")
    ap.add_argument("--space", default="nasrec-full")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--population", type=int, default=BUDGET["population"])
    ap.add_argument("--cycles", type=int, default=BUDGET["cycles"])
    ap.add_argument("--tournament", type=int, default=BUDGET["tournament"])
    ap.add_argument("--children", type=int, default=BUDGET["children"])
    ap.add_argument("--mutations", type=int, default=1, help="mutations per child in the first cycle, falling to 1")
    ap.add_argument("--supernet-epochs", type=float, default=1.0)
    ap.add_argument("--top-k", type=int, default=4)
    ap.add_argument("--topk-seeds", type=int, default=1)
    ap.add_argument("--final-seeds", type=int, default=2)
    ap.add_argument("--epochs", type=float, default=10.0, help="most epochs of every scratch training")
    ap.add_argument(
        "--final-protocol",
        choices=["keep", "retrain"],
        default="keep",
        help="final models: early-stopped (keep) or retrained on train+valid (retrain; the committed results')",
    )
    ap.add_argument("--zoo", nargs="*", default=["dlrm", "deepfm", "wide_deep", "autoint"])
    ap.add_argument(
        "--against",
        type=Path,
        help="another run's JSON (e.g. the same seeds with another proxy): this run minus it, seed by seed",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--evaluator", default="finetune", help="the proxy of both searches (`full`: scratch training)")
    ap.add_argument(
        "--evaluator-config", type=json_object, default={}, help="its settings as a JSON object (default: its defaults)"
    )
    return ap


def main() -> None:
    args = parser().parse_args()
    args.other = json.loads(args.against.read_text()) if args.against else None  # read before hours of runs
    torch.set_num_threads(args.threads)
    console = Console(width=170)
    runs: dict[int, tuple[Summary, Path]] = {}
    for seed in args.seeds:
        root = args.out / f"seed-{seed}"
        runs[seed] = (Pipeline(run_config(args, seed), root, console=console, progress=False).run(), root)
        _write(args, runs, console)


def searches(root: Path) -> dict[str, dict]:
    """Per search of a seed's run folder (evolution, random): its best proxy score and its shortlist (digest,
    proxy score, validation log loss of the scratch training; None where it diverged)."""
    paths = RunPaths(root)
    out = {}
    for name, log, topk in (
        ("evolution", paths.evaluations, paths.topk),
        ("random", paths.random_evaluations, paths.random_topk),
    ):
        if not log.exists():  # a run without the random baseline
            continue
        scores = [e.score.value for e in read_jsonl(log, Evaluation) if e.score is not None]
        out[name] = {
            "best_proxy": min(scores),
            "topk": [
                {"digest": r.digest, "proxy": r.proxy.value, "valid": r.full.value if r.full else None}
                for r in read_jsonl(topk, TopKResult)
            ],
        }
    return out


def _interval(i: dict) -> str:
    return str(Interval.model_validate(i))  # a bound near zero keeps its sign and digits


def seed_table(seed: int, entry: dict) -> Table:
    """One seed's models, best first: test log loss, AUC, regret (oracle data) and NASRecNet minus the model
    with its 95 % interval over this seed's test rows."""
    models = entry["models"]
    table = Table(title=f"seed {seed}: NASRecNet ranks {entry['rank_of_nasrecnet']} of {len(models)}")
    for col in ("model", "test log loss", "AUC", "regret", "NASRecNet minus model [95% CI]"):
        table.add_column(col)
    for name in sorted(models, key=lambda n: models[n]["log_loss"]):
        m, c = models[name], entry["comparisons"].get(name)
        regret = "" if m["regret"] is None else f"{m['regret']:.5f}"
        table.add_row(name, f"{m['log_loss']:.4f}", f"{m['auc']:.4f}", regret, _interval(c["log_loss"]) if c else "")
    return table


def against_table(entry: dict) -> Table:
    """`against`'s differences: one row per model, the per-seed differences and their interval."""
    table = Table(title=f"this run minus {entry['file']}, seed by seed (test log loss)")
    for col in ("model", "per seed", "mean [95% t]"):
        table.add_column(col)
    for name, d in entry.items():
        if name != "file":
            table.add_row(name, " ".join(f"{x:+.4f}" for x in d["diffs"]), _interval(d["interval"]))
    return table


def _write(args, runs, console) -> None:
    data = open_data(args.data)
    test = data.split("test")
    labels = test.label.astype(np.float64)
    bayes = bayes_rate(test.prob) if test.prob is not None else None
    per_seed, first = {}, 0
    for seed, (summary, root) in runs.items():
        rows = {
            r.name: {
                "log_loss": r.test.log_loss,
                "log_loss_runs": [run.log_loss for run in r.test.runs],  # one per final seed
                "auc": r.test.auc,
                "regret": r.test.regret,
                "flops": r.test.flops,
                "params": r.test.params,
            }
            for r in summary.results
        }
        ranked = sorted(rows, key=lambda n: rows[n]["log_loss"])
        first += ranked[0] == "NASRecNet"
        per_seed[seed] = {
            "models": rows,
            "rank_of_nasrecnet": ranked.index("NASRecNet") + 1,
            "comparisons": {k: json.loads(v.model_dump_json()) for k, v in summary.comparisons.items()},
            "searches": searches(root),
            "left_out": {d.name: d.error for d in summary.diverged},  # every training try diverged
            "stage_seconds": summary.stage_seconds,
            "seconds": round(sum(summary.stage_seconds.values()), 1),  # the run's own, whichever call ran it
        }
    names = in_every_seed(runs)
    mean = {
        n: {
            m: float(np.mean([s["models"][n][m] for s in per_seed.values()]))
            for m in ("log_loss", "auc") + (("regret",) if bayes is not None else ())
        }
        for n in names
    }
    result = {
        "data": args.data,
        "seeds": list(runs),
        "config": json.loads(run_config(args, 0).model_dump_json()),
        "bayes_rate": bayes,
        "per_seed": per_seed,
        "mean": mean,
        "nasrecnet_first_in": first,
        "pooled_vs_nasrecnet": pooled(runs, labels),
        "over_seeds_vs_nasrecnet": over_seeds(per_seed),
        "seconds": round(sum(s["seconds"] for s in per_seed.values()), 1),
    }
    if args.against:
        result["against"] = {"file": str(args.against), **against(per_seed, args.other)}
    for seed, entry in per_seed.items():
        console.print(seed_table(seed, entry))
    table = Table(title=f"{args.data}: {len(runs)} seeds, NASRecNet first in {first}")
    for col in (
        "model",
        "test log loss (mean)",
        "AUC (mean)",
        "regret",
        "NASRecNet minus model [95% CI]",
        "AUC diff [95% CI]",
        "over seeds [95% t]",
    ):
        table.add_column(col)
    for n in sorted(names, key=lambda n: mean[n]["log_loss"]):
        c, t = result["pooled_vs_nasrecnet"].get(n), result["over_seeds_vs_nasrecnet"].get(n)
        table.add_row(
            n,
            f"{mean[n]['log_loss']:.4f}",
            f"{mean[n]['auc']:.4f}",
            f"{mean[n]['regret']:.5f}" if "regret" in mean[n] else "",
            _interval(c["log_loss"]) if c else "",
            _interval(c["auc"]) if c else "",
            _interval(t) if t else "",
        )
    console.print(table)
    if args.against and len(result["against"]) > 1:
        console.print(against_table(result["against"]))
    elif args.against:
        console.print(f"--against {args.against}: fewer than 2 seeds in common with this run, no differences")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
