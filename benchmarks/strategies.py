"""Which strategy finds the best proxy score at equal proxy evaluations? Random search, regularized evolution,
predictor-guided evolution and Optuna's TPE, each run by the CLI's runner (`run_search`) on the same budget.

Per seed one supernet is trained once (the run's default recipe) and shared by every strategy of that seed,
and so is a score cache keyed by the genotype's `active_digest()`: a function scored once (by any strategy
of the seed) is not scored again. The proxy is deterministic given the supernet, which the benchmark checks
on two genotypes per seed before it relies on that. Reported: per strategy the best proxy score at the end
(mean and spread over seeds) and the best-so-far at checkpoints; and the evaluations predictor-guided
evolution needs to reach plain evolution's final best (issue 16's target: at most 60 % of the budget, in the
mean over seeds). The JSON is rewritten after every strategy x seed; a rerun skips the finished ones. Seeds can
be split between processes that share `--out` and `--json` (e.g. one per core): each writes its own seeds and
keeps the others' (the summary covers every seed in the file). `--supernets K` trains K supernets per seed
(seeds seed, seed + 100, ...; each proxy fine-tunes with its supernet's seed) and the strategies search on the
mean of the K proxy scores, a less noisy proxy at K times the cost per evaluation.

The default budget, 64 evaluations per strategy and seed, is a quarter of the issue's example (256): on one
thread of a 2-core machine shared with other jobs the fast proxy took ~6 s per candidate, and a seed needs
~220 new scores for its four strategies (random search, evolution and its predictor-guided variant draw the
same initial samples, which the cache scores once), so 3 seeds fit in about an hour.

    OMP_NUM_THREADS=1 python benchmarks/strategies.py --out runs/strategies --json docs/results/strategies.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from nasrec.evaluators import train_supernet
from nasrec.evaluators.base import EVALUATORS, Evaluator, Score, build_evaluator, evaluator_config
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.stats import mean_and_spread
from nasrec.genotype import Genotype, get_space, sample
from nasrec.records import RunPaths
from nasrec.search.base import build_strategy
from nasrec.search.pipeline import EvaluatorChoice, RunConfig
from nasrec.search.runner import run_search, search_stats
from nasrec.state import atomic_write_text, pin_config

STRATEGIES = ("random", "evolution", "predictor-evolution", "optuna")
TARGET = 0.6  # issue 16: predictor-guided evolution reaches evolution's final best within 60 % of the budget


class CachedExecutor:
    """Scores each active function once: a cache keyed by `active_digest()`, kept in a JSONL file so that a
    restarted benchmark does not score again; shared by the strategies of one seed. With several evaluators
    (one per supernet, `--supernets`) each has its own cache file and the score is their mean."""

    def __init__(self, evaluators: list[Evaluator], paths: list[Path]) -> None:
        self.evaluators, self.paths = evaluators, paths
        self.caches: list[dict[str, str]] = [self._read(path) for path in paths]
        self.scored = self.hits = 0

    @staticmethod
    def _read(path: Path) -> dict[str, str]:
        cache = {}
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    cache[row["active"]] = row["score"]
        return cache

    def _score(self, i: int, g: Genotype, key: str) -> str:
        cache = self.caches[i]
        if key not in cache:
            (score,) = self.evaluators[i].evaluate([g])
            cache[key] = score.model_dump_json()
            with self.paths[i].open("a") as f:
                f.write(json.dumps({"active": key, "score": cache[key]}) + "\n")
        return cache[key]

    def submit(self, genotype_json: str) -> Future[str]:
        future: Future[str] = Future()
        g = Genotype.from_json(genotype_json)
        key = g.active_digest()
        try:
            new = any(key not in cache for cache in self.caches)
            scores = [self._score(i, g, key) for i in range(len(self.evaluators))]
            if new:
                self.scored += 1
            else:
                self.hits += 1
            future.set_result(scores[0] if len(scores) == 1 else mean_score(scores))
        except Exception as exc:  # a failed evaluation, reported like the runner's executors do
            future.set_exception(exc)
        return future

    def close(self) -> None:
        pass


AVERAGED = ("log_loss", "auc", "objective", "expected_log_loss", "regret")
"""The figures of a Score that `mean_score` averages over supernets (the rest describe the genotype or the run)."""


def mean_score(scores_json: list[str]) -> str:
    """One score whose `AVERAGED` figures are the means of `scores_json` (one genotype scored on several
    supernets; None where any score lacks the figure); `log_loss_std` is the log losses' spread, `seconds` the
    sum."""
    scores = [Score.model_validate_json(s) for s in scores_json]
    means: dict[str, Any] = {}
    for field in AVERAGED:
        values = [getattr(s, field) for s in scores]
        means[field] = None if None in values else float(np.mean(values))
    losses = [s.log_loss for s in scores if s.log_loss is not None]
    spread = mean_and_spread(losses)[1] if len(losses) == len(scores) else None
    update = means | {
        "log_loss_std": spread,
        "seconds": sum(s.seconds for s in scores),
        "config": scores[0].config | {"supernets": len(scores)},
    }
    return scores[0].model_copy(update=update).model_dump_json()


def strategy_options(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Each strategy's options for a budget of `args.budget` evaluations."""
    if name in ("evolution", "predictor-evolution"):
        out = {
            "population": args.population,
            "tournament": args.tournament,
            "children": args.children,
            "cycles": (args.budget - args.population) // args.children,
        } | ({"mutations": args.mutations} if args.mutations > 1 else {})
        if name != "predictor-evolution":
            return out
        return (
            out
            | {"screen": args.screen, "surrogate": args.surrogate}
            | ({"parents": args.parents} if args.parents > 1 else {})
        )
    if name == "optuna":
        return {"sampler": "tpe", "budget": args.budget, "batch": args.children, "startup_trials": args.population}
    return {"budget": args.budget}


def best_so_far(values: list[float | None]) -> list[float | None]:
    """The running minimum (a failed evaluation, None, keeps the previous best)."""
    out: list[float | None] = []
    best = None
    for v in values:
        if v is not None and (best is None or v < best):
            best = v
        out.append(best)
    return out


def evaluations_to_reach(curve: list[float | None], target: float) -> int | None:
    """The first evaluation (1-based) whose best-so-far is at most `target`; None if never."""
    return next((i + 1 for i, v in enumerate(curve) if v is not None and v <= target), None)


def make_evaluator(
    args: argparse.Namespace, seed: int, root: Path, console: Console, index: int = 0
) -> tuple[Evaluator, dict]:
    """The seed's evaluator; with a proxy that reads a supernet, the supernet is trained first (once). Supernet
    `index` > 0 (`--supernets`) is trained with seed `seed + 100 * index` in `root/supernet-<index>`, and its proxy
    fine-tunes with that seed too."""
    if args.evaluator not in EVALUATORS and ":" in args.evaluator:  # e.g. a test's formula evaluator
        return build_evaluator(args.evaluator, {}), {}
    start = time.perf_counter()
    supernet = {"train": {"epochs": args.supernet_epochs}}
    supernet_seed = seed + 100 * index
    config = RunConfig(data=args.data, space=args.space, seed=supernet_seed, supernet=supernet)
    checkpoint = RunPaths(root).supernet
    if index:
        checkpoint = root / f"supernet-{index}" / checkpoint.name
    choice = EvaluatorChoice(name=args.evaluator, config={"recipe": args.recipe} if args.recipe else {})
    if "supernet" in evaluator_config(args.evaluator).model_fields:
        what = f"supernet {index} ({args.supernet_epochs} epoch, seed {supernet_seed})"
        console.print(f"seed {seed}: {what}", highlight=False)
        train_supernet(config.supernet, checkpoint.parent)
    full = choice.build_config(data=args.data, supernet=str(checkpoint), seed=supernet_seed, device="cpu")
    return build_evaluator(args.evaluator, full), {"supernet_seconds": round(time.perf_counter() - start, 1)}


def check_deterministic(evaluator: Evaluator, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """Two genotypes scored twice, in the opposite order the second time: equal scores let the cache stand."""
    space = get_space(args.space)
    rng = np.random.default_rng(10_000 + seed)
    a, b = sample(space, rng=rng), sample(space, rng=rng)
    first = [evaluator.evaluate([g])[0].value for g in (a, b)]
    second = [evaluator.evaluate([g])[0].value for g in (b, a)][::-1]
    return {"genotypes": [a.digest(), b.digest()], "first": first, "second": second, "equal": first == second}


def run_one(name: str, args: argparse.Namespace, seed: int, executor: CachedExecutor, root: Path) -> dict[str, Any]:
    """`name` on one seed through the CLI's runner; its best-so-far curve and counts."""
    start, scored, hits = time.perf_counter(), executor.scored, executor.hits
    strategy = build_strategy(name, get_space(args.space), seed=seed, **strategy_options(name, args))
    log = root / f"{name}.jsonl"
    evaluations = run_search(strategy, executor, log, seed=seed, budget=args.budget)
    values = [e.score.value if e.score else None for e in evaluations]
    curve = best_so_far(values)
    best = min((e for e in evaluations if e.score), key=lambda e: e.score.value)  # type: ignore[union-attr]
    return {
        "evaluations": len(evaluations),
        "failed": sum(v is None for v in values),
        "best": curve[-1],
        "best_digest": best.digest,
        "curve": curve,
        "newly_scored": executor.scored - scored,
        "cache_hits": executor.hits - hits,
        "seconds": round(time.perf_counter() - start, 1),
        "stats": search_stats(strategy),
    }


def summarise(result: dict[str, Any], budget: int) -> dict[str, Any]:
    """Per strategy: the best at the end and at checkpoints (mean, std, min, max over the finished seeds); the
    evaluations predictor-guided evolution needs to reach evolution's final best, per seed and as a fraction."""
    runs = result["runs"]
    checkpoints = sorted({c for c in (budget // 4, budget // 2, 3 * budget // 4, budget) if c > 0})
    out: dict[str, Any] = {"checkpoints": checkpoints, "strategies": {}}
    for name in STRATEGIES:
        seeds = [s for s in runs if name in runs[s]]
        if not seeds:
            continue
        finals = np.array([runs[s][name]["best"] for s in seeds], dtype=float)
        at = {c: [runs[s][name]["curve"][c - 1] for s in seeds] for c in checkpoints}
        out["strategies"][name] = {
            "seeds": [int(s) for s in seeds],
            "best_mean": float(finals.mean()),
            "best_std": float(finals.std()),
            "best_min": float(finals.min()),
            "best_max": float(finals.max()),
            "best_at": {str(c): float(np.mean(v)) for c, v in at.items()},
        }
    reach = {}
    for s in runs:
        if "evolution" in runs[s] and "predictor-evolution" in runs[s]:
            n = evaluations_to_reach(runs[s]["predictor-evolution"]["curve"], runs[s]["evolution"]["best"])
            reach[s] = n
    if reach:
        fractions = [(n if n is not None else budget) / budget for n in reach.values()]
        mean = float(np.mean(fractions))
        out["predictor_reaches_evolution_best"] = {
            "evaluations": reach,
            "never_reached": [s for s, n in reach.items() if n is None],
            "fraction_mean": mean,
            "fraction_mean_note": "a seed that never reaches it counts as the whole budget (a lower bound)",
            "target": TARGET,
            "target_met": mean <= TARGET and all(n is not None for n in reach.values()),
        }
    return out


def print_table(result: dict[str, Any], console: Console) -> None:
    summary = result["summary"]
    cps = summary["checkpoints"]
    table = Table(title=f"best proxy score (log loss, lower is better); {result['config']['budget']} evaluations")
    for col in ["strategy", "seeds", "best (mean ± std)", "min .. max", *[f"@{c}" for c in cps]]:
        table.add_column(col)
    for name, s in summary["strategies"].items():
        table.add_row(
            name,
            str(len(s["seeds"])),
            f"{s['best_mean']:.5f} ± {s['best_std']:.5f}",
            f"{s['best_min']:.5f} .. {s['best_max']:.5f}",
            *[f"{s['best_at'][str(c)]:.5f}" for c in cps],
        )
    console.print(table)
    reach = summary.get("predictor_reaches_evolution_best")
    if reach:
        per_seed = ", ".join(f"seed {s}: {n if n is not None else 'never'}" for s, n in reach["evaluations"].items())
        console.print(
            f"predictor-evolution reaches evolution's final best after {per_seed}; mean fraction "
            f"{reach['fraction_mean']:.2f} of the budget (target <= {TARGET}: "
            f"{'met' if reach['target_met'] else 'missed'})",
            highlight=False,
        )


class ScoreCacheConfig(BaseModel):
    """What the score caches of `--out` depend on (they are keyed by genotype): the data, space and proxy, and the
    validation rows each score is computed on (`scored_rows`)."""

    data: str
    space: str
    evaluator: str
    recipe: str
    supernet_epochs: float
    supernets: int
    valid_examples: int

    @classmethod
    def of(cls, args: argparse.Namespace) -> ScoreCacheConfig:
        fields = {k: getattr(args, k) for k in cls.model_fields if k != "valid_examples"}
        return cls(**fields, valid_examples=scored_rows(args))


def valid_split_rows(data: str) -> int:
    return len(open_data(data).split("valid").label)


def scored_rows(args: argparse.Namespace) -> int:
    """The validation rows a score is computed on: an evaluator's `valid_rows` cap (the proxies') where the split
    is larger, else the whole split."""
    rows = valid_split_rows(args.data)
    if args.evaluator in EVALUATORS:
        cap = evaluator_config(args.evaluator).model_fields.get("valid_rows")
        if cap is not None and isinstance(cap.default, int):
            return min(cap.default, rows)
    return rows


def pin_score_caches(args: argparse.Namespace) -> None:
    """Pin what `--out`'s score caches were scored with; a folder from before the proxies' validation cap scored
    the whole split, so it resumes only where that is what they score now."""
    absent = {"valid_examples": valid_split_rows(args.data)}
    pin_config(args.out / "config.json", ScoreCacheConfig.of(args), what="strategies score cache", absent=absent)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="sample:criteo")
    ap.add_argument("--space", default="nasrec-full")
    ap.add_argument("--out", type=Path, required=True, help="run folders: supernets, search logs, score caches")
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    ap.add_argument("--budget", type=int, default=64, help="proxy evaluations per strategy and seed")
    ap.add_argument("--population", type=int, default=16, help="evolution's population; TPE's startup trials")
    ap.add_argument("--tournament", type=int, default=8)
    ap.add_argument("--children", type=int, default=8, help="per cycle; Optuna's batch")
    ap.add_argument("--screen", type=int, default=4, help="predictor: mutants screened per child evaluated")
    ap.add_argument("--surrogate", default="gbdt", choices=["gbdt", "ridge"], help="predictor: its surrogate")
    ap.add_argument("--parents", type=int, default=1, help="predictor: tournament winners mutated into the pool")
    ap.add_argument(
        "--mutations", type=int, default=1, help="evolutions: mutations per child in the first cycle, falling to 1"
    )
    ap.add_argument("--evaluator", default="finetune", help="a registered evaluator or module:Class")
    ap.add_argument("--recipe", default="fast", help="the fine-tuned proxy's recipe ('' for another evaluator)")
    ap.add_argument("--supernet-epochs", type=float, default=1.0)
    ap.add_argument(
        "--supernets",
        type=int,
        default=1,
        help="the proxy score is the mean over this many supernets per seed (seeds seed, seed + 100, ...)",
    )
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if (args.budget - args.population) % args.children or args.budget < args.population:
        ap.error("--budget must be --population plus a multiple of --children")
    torch.set_num_threads(args.threads)
    console = Console(width=150)
    # not in the config: where results go, which seeds and strategies run, threads; surrogate and parents are in
    # the options
    skip: tuple[str, ...] = ("out", "json", "seeds", "strategies", "threads", "surrogate", "parents")
    skip += ("supernets",) if args.supernets == 1 else ()  # a config key only when used (older JSONs lack it)
    config = {k: v for k, v in vars(args).items() if k not in skip} | {
        "options": {name: strategy_options(name, args) for name in STRATEGIES}
    }
    result: dict[str, Any] = {"config": config, "runs": {}, "seed_setup": {}, "seconds": {}}
    # the score caches under OUT are keyed by genotype: a rerun into OUT must score as they were scored
    pin_score_caches(args)
    if args.json.exists():
        old = json.loads(args.json.read_text())
        if old.get("config") != config:
            sys.exit(f"{args.json} holds another config; move it away to start afresh")
        result = old
    result["command"] = "python benchmarks/strategies.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    result["threads"] = args.threads
    started, wall_before = time.perf_counter(), result.get("wall_seconds", 0.0)
    for seed in args.seeds:
        key = str(seed)
        root = args.out / f"seed-{seed}"
        root.mkdir(parents=True, exist_ok=True)
        todo = [n for n in args.strategies if n not in result["runs"].get(key, {})]
        if not todo:
            continue
        built = [make_evaluator(args, seed, root, console, i) for i in range(args.supernets)]
        evaluators = [e for e, _ in built]
        if key not in result["seed_setup"]:
            setup = built[0][1]
            setup["supernet_seconds"] = sum(s.get("supernet_seconds", 0) for _, s in built)
            checks = [check_deterministic(e, args, seed) for e in evaluators]
            both = {"equal": all(c["equal"] for c in checks), "supernets": checks}
            setup["deterministic"] = checks[0] if len(checks) == 1 else both
            result["seed_setup"][key] = setup
            if not setup["deterministic"]["equal"]:
                sys.exit(f"seed {seed}: the proxy is not deterministic ({setup['deterministic']}); no cache")
        caches = [root / ("scores.jsonl" if i == 0 else f"scores-{i}.jsonl") for i in range(args.supernets)]
        executor = CachedExecutor(evaluators, caches)
        for name in todo:
            console.print(f"seed {seed}: {name}", highlight=False)
            result["runs"].setdefault(key, {})[name] = run_one(name, args, seed, executor, root)
            result["wall_seconds"] = round(wall_before + time.perf_counter() - started, 1)  # over reruns
            result = _save(args, result)
            print_table(result, console)
    if result["runs"]:
        _save(args, result)  # a rerun with nothing left to do records its command (the one that completes)


def _save(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, Any]:
    """Write `result`, merged with the seeds that another process sharing `--json` has written there since
    (each process owns the seeds it was given), with the summary over all of them."""
    if args.json.exists():
        disk = json.loads(args.json.read_text())
        for part in ("runs", "seed_setup"):
            for seed, value in disk.get(part, {}).items():
                if int(seed) not in args.seeds:
                    result[part][seed] = value
    result["summary"] = summarise(result, args.budget)
    seconds = [r["seconds"] for runs in result["runs"].values() for r in runs.values()]
    seconds += [s.get("supernet_seconds", 0) for s in result["seed_setup"].values()]
    result["seconds"] = {"total": round(sum(seconds), 1)}
    seeds = set(result["runs"]) | {str(s) for s in args.seeds}
    result["complete"] = all(set(args.strategies) <= set(result["runs"].get(s, {})) for s in seeds)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
