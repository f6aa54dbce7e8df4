"""How well can a surrogate screen evolution's children? Read from the search logs of benchmarks/strategies.py.

Predictor-guided evolution ranks each cycle's mutants with a surrogate fitted on the evaluations so far and
evaluates the best. That helps only if the surrogate can tell apart what evolution proposes next. For every
seed's plain-evolution log (OUT/seed-N/evolution.jsonl) this replays the run and measures, with the
predictor's own surrogate and encoding (`nasrec.search.predictor`):

- `next_cycle`: fitted on every evaluation before a cycle, the Kendall tau between its predictions and the
  proxy scores of that cycle's children (mutants of one parent: what the screen must rank), averaged over
  the cycles, and the share of cycles whose best child is the surrogate's first pick;
- `next_64`: fitted on the first n evaluations, tau on the next 64 (n = 64, 128, ...);
- `random_split`: fitted on a random 3/4 of all evaluations, tau on the rest (the same surrogate on
  interpolation rather than on evolution's moving frontier).

    python benchmarks/surrogate_fidelity.py docs/results/strategies-256.json --out runs/strategies256 \\
        --json docs/results/strategies-256-surrogate.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau

from nasrec.genotype import Genotype, get_space
from nasrec.genotype.encoding import reference_tokens
from nasrec.records import Evaluation
from nasrec.search.predictor import fit_surrogate
from nasrec.state import read_jsonl


def _tau(a: np.ndarray, b: np.ndarray) -> float | None:
    tau = kendalltau(a, b).statistic
    return None if np.isnan(tau) else float(tau)


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def fidelity(
    log: Path, space: str, population: int, children: int, surrogate: str = "gbdt", alpha: float = 1.0, seed: int = 0
) -> dict[str, Any]:
    """The three measures above for one evolution log (evaluations in ask order; failed ones dropped)."""
    records = [e for e in read_jsonl(log, Evaluation) if e.score is not None]
    s = get_space(space)
    x = np.stack([reference_tokens(Genotype.from_dict(e.genotype), s).astype(np.float64) for e in records])
    y = np.array([e.score.value for e in records])  # type: ignore[union-attr]  # failed ones dropped above
    fit = lambda n: fit_surrogate(surrogate, x[:n], y[:n], alpha, seed)  # noqa: E731 (a one-line helper)
    cycles, firsts = [], []
    for start in range(population, len(y) - children + 1, children):
        pred, actual = fit(start).predict(x[start : start + children]), y[start : start + children]
        cycles.append(_tau(pred, actual))
        firsts.append(bool(np.argmin(pred) == np.argmin(actual)))
    ahead = {}
    for n in range(64, len(y) - 63, 64):
        ahead[str(n)] = _tau(fit(n).predict(x[n : n + 64]), y[n : n + 64])
    order = np.random.default_rng(seed).permutation(len(y))
    train, test = order[: 3 * len(y) // 4], order[3 * len(y) // 4 :]
    random_split = _tau(fit_surrogate(surrogate, x[train], y[train], alpha, seed).predict(x[test]), y[test])
    return {
        "evaluations": len(y),
        "next_cycle": {
            "cycles": len(cycles),
            "kendall_tau_mean": _mean(cycles),
            "first_pick_is_best": float(np.mean(firsts)) if firsts else None,
            "first_pick_is_best_by_chance": 1 / children,
        },
        "next_64": ahead,
        "random_split": random_split,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, help="the strategies benchmark's --json (its config: space, population)")
    ap.add_argument("--out", type=Path, required=True, help="the strategies benchmark's --out (the search logs)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--surrogates", nargs="+", default=["gbdt", "ridge"], choices=["gbdt", "ridge"])
    args = ap.parse_args()
    config = json.loads(args.results.read_text())["config"]
    out: dict[str, Any] = {"results": str(args.results), "config": config, "seeds": {}}
    for seed in sorted(json.loads(args.results.read_text())["runs"], key=int):
        log = args.out / f"seed-{seed}" / "evolution.jsonl"
        if not log.exists():
            continue
        out["seeds"][seed] = {}
        for surrogate in args.surrogates:
            r = fidelity(log, config["space"], config["population"], config["children"], surrogate)
            out["seeds"][seed][surrogate] = r
            nxt = r["next_cycle"]
            ahead = ", ".join(f"{n}: {t:.3f}" for n, t in r["next_64"].items() if t is not None)
            print(
                f"seed {seed} {surrogate}: next cycle tau {nxt['kendall_tau_mean']:.3f}, first pick the best in "
                f"{nxt['first_pick_is_best']:.2f} of cycles (chance {nxt['first_pick_is_best_by_chance']:.2f}); "
                f"next 64 after n: {ahead}; random split {r['random_split']:.3f}"
            )
    out["command"] = "python benchmarks/surrogate_fidelity.py " + " ".join(sys.argv[1:])
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
