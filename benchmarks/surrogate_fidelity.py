"""How well can a surrogate screen evolution's children? Read from the search logs of benchmarks/strategies.py.

Predictor-guided evolution ranks each cycle's mutants with a surrogate fitted on the evaluations so far and
evaluates the best. That helps only if the surrogate can tell apart what evolution proposes next. For every
seed's plain-evolution log (OUT/seed-N/evolution.jsonl) this replays the run and measures, with the
predictor's own surrogate and encoding (`nasrec.search.predictor`):

- `next_cycle`: fitted on every evaluation before a cycle, the Kendall tau between its predictions and the
  proxy scores of that cycle's children (mutants of one parent: what the screen must rank), averaged over
  the cycles, and the share of cycles whose best child is the surrogate's first pick;
- `next_64`: fitted on the first n evaluations, tau on the next 64 (n = 64, 128, ...), and the standard
  deviation of those 64 proxy scores (`next_64_score_std`: how far apart the scores to rank are);
- `random_split`: fitted on a random 3/4 of all evaluations, tau on the rest (the same surrogate on
  interpolation rather than on evolution's moving frontier).

With `--twin-seed N` the same measures are taken with a second predictor that learns nothing: the proxy
scores of the same genotypes on a supernet trained with seed N (same data and recipe; trained once into
OUT/twin-N, its scores cached there). Differences the proxy does not repeat on another supernet are the
supernet's, not the architecture's: a surrogate of the encoding can only learn them as that one supernet's
quirks, which is what the screen would then be chasing.

    python benchmarks/surrogate_fidelity.py docs/results/strategies-256.json --out runs/strategies256 \\
        --twin-seed 100 --json docs/results/strategies-256-surrogate.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasrec.evaluators.base import Score
from nasrec.evaluators.ranking import kendall_tau
from nasrec.genotype import Genotype, get_space
from nasrec.genotype.encoding import reference_tokens
from nasrec.records import Evaluation
from nasrec.search.predictor import fit_surrogate
from nasrec.state import read_jsonl


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


Predict = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(indices it may learn from, indices to predict) -> predictions for the latter (lower is better)."""


def measures(y: np.ndarray, predict: Predict, population: int, children: int, seed: int = 0) -> dict[str, Any]:
    """The three measures above for the scores `y` of one evolution log (in ask order) and a predictor."""
    cycles, firsts = [], []
    for start in range(population, len(y) - children + 1, children):
        nxt = np.arange(start, start + children)
        pred = predict(np.arange(start), nxt)
        cycles.append(kendall_tau(pred, y[nxt]))
        firsts.append(bool(np.argmin(pred) == np.argmin(y[nxt])))
    ahead, spread = {}, {}
    for n in range(64, len(y) - 63, 64):
        ahead[str(n)] = kendall_tau(predict(np.arange(n), np.arange(n, n + 64)), y[n : n + 64])
        spread[str(n)] = float(np.std(y[n : n + 64]))
    order = np.random.default_rng(seed).permutation(len(y))
    train, test = order[: 3 * len(y) // 4], order[3 * len(y) // 4 :]
    return {
        "evaluations": len(y),
        "next_cycle": {
            "cycles": len(cycles),
            "kendall_tau_mean": _mean(cycles),
            "first_pick_is_best": float(np.mean(firsts)) if firsts else None,
            "first_pick_is_best_by_chance": 1 / children,
        },
        "next_64": ahead,
        "next_64_score_std": spread,
        "random_split": kendall_tau(predict(train, test), y[test]),
    }


def read_log(log: Path) -> tuple[list[Genotype], np.ndarray]:
    """The evaluated genotypes of a search log, in ask order, and their scores (failed ones dropped)."""
    records = [e for e in read_jsonl(log, Evaluation) if e.score is not None]
    return [Genotype.from_dict(e.genotype) for e in records], np.array([e.score.value for e in records])  # type: ignore[union-attr]  # failed ones dropped


def fidelity(
    log: Path, space: str, population: int, children: int, surrogate: str = "gbdt", alpha: float = 1.0, seed: int = 0
) -> dict[str, Any]:
    """The measures for the predictor's surrogate on one evolution log: refitted on what it may learn from."""
    genotypes, y = read_log(log)
    s = get_space(space)
    x = np.stack([reference_tokens(g, s).astype(np.float64) for g in genotypes])

    def predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        return fit_surrogate(surrogate, x[train], y[train], alpha, seed).predict(x[test])

    return measures(y, predict, population, children, seed)


def twin_fidelity(log: Path, twin: dict[str, float], population: int, children: int) -> dict[str, Any]:
    """The same measures with a second supernet's proxy scores (`twin`, by active digest) as the predictions:
    how far the proxy itself repeats at the scale evolution works at."""
    genotypes, y = read_log(log)
    z = np.array([twin[g.active_digest()] for g in genotypes])
    return measures(y, lambda train, test: z[test], population, children)


def twin_scores(config: dict[str, Any], twin_seed: int, genotypes: list[Genotype], root: Path) -> dict[str, float]:
    """Every genotype's proxy score on a supernet of seed `twin_seed` (trained once into `root`, as the
    strategies benchmark trains a seed's supernet; scores cached there by active digest)."""
    from rich.console import Console
    from strategies import CachedExecutor, make_evaluator

    args = argparse.Namespace(**{k: config[k] for k in ("data", "space", "evaluator", "recipe", "supernet_epochs")})
    root.mkdir(parents=True, exist_ok=True)
    evaluator, _ = make_evaluator(args, twin_seed, root, Console())
    executor = CachedExecutor(evaluator, root / "scores.jsonl")
    return {
        g.active_digest(): Score.model_validate_json(executor.submit(g.to_json()).result()).value for g in genotypes
    }


def _print(seed: str, name: str, r: dict[str, Any]) -> None:
    nxt = r["next_cycle"]
    ahead = ", ".join(f"{n}: {t:.3f}" for n, t in r["next_64"].items() if t is not None)
    print(
        f"seed {seed} {name}: next cycle tau {nxt['kendall_tau_mean']:.3f}, first pick the best in "
        f"{nxt['first_pick_is_best']:.2f} of cycles (chance {nxt['first_pick_is_best_by_chance']:.2f}); "
        f"next 64 after n: {ahead}; random split {r['random_split']:.3f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, help="the strategies benchmark's --json (its config: space, population)")
    ap.add_argument("--out", type=Path, required=True, help="the strategies benchmark's --out (the search logs)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--surrogates", nargs="+", default=["gbdt", "ridge"], choices=["gbdt", "ridge"])
    ap.add_argument("--twin-seed", type=int, help="also score every log on a second supernet of this seed")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = json.loads(args.results.read_text())
    config = results["config"]
    out: dict[str, Any] = {"results": str(args.results), "config": config, "twin_seed": args.twin_seed, "seeds": {}}
    for seed in sorted(results["runs"], key=int):
        log = args.out / f"seed-{seed}" / "evolution.jsonl"
        if not log.exists():
            continue
        out["seeds"][seed] = {}
        for surrogate in args.surrogates:
            r = fidelity(log, config["space"], config["population"], config["children"], surrogate)
            out["seeds"][seed][surrogate] = r
            _print(seed, surrogate, r)
        if args.twin_seed is not None:
            twin = twin_scores(config, args.twin_seed, read_log(log)[0], args.out / f"twin-{args.twin_seed}")
            out["seeds"][seed]["twin"] = r = twin_fidelity(log, twin, config["population"], config["children"])
            _print(seed, f"twin supernet (seed {args.twin_seed})", r)
    out["command"] = "python benchmarks/surrogate_fidelity.py " + " ".join(sys.argv[1:])
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
