"""How much could any search gain over random search at the search-quality benchmark's budget, and could that
benchmark's test see it? Reads a ranking study's committed tables (reference and proxy scores); trains nothing.

The reference table holds sampled genotypes of the space, each trained from scratch with the pipeline's
recipe for S seeds. Treating the table as the space, it simulates the benchmark's random search — `--budget`
draws, the proxy's `--top-k` best (the shortlist), one winner — in two ways:
- `held_out` (model-free): the winner picked by the mean of r of a genotype's runs (the pipeline's rule: the
  best validation score of its scratch trainings), by the proxy alone, or at random among the shortlist, and
  by r runs among the whole table; each pick scored by the mean of the runs it was not picked on (r < S), so
  no pick is flattered by the noise that chose it.
- `modelled`: each genotype's expected score estimated by shrinking its mean towards the table's (empirical
  Bayes), each run that plus Gaussian noise; the headroom is what a search whose shortlist were the table's
  true `top_k` would gain over random search with the same noisy choice among it.

Against the headroom, the benchmark's resolution: the half-width of its pooled paired 95 % interval for
NASRecNet minus random search (`--half-width`, or read from a search_quality.py JSON), and the seeds' noise of
that pooled difference (one run's spread, averaged over `--final-seeds` runs per model and `--search-seeds`
seeds). `power`: the chance that a search gaining the whole headroom shows an interval below zero;
`mean_below_zero`: the chance that its pooled mean difference is below zero at all (a target on means, such
as the oracle benchmark's mean regret).

    python benchmarks/search_headroom.py --reference docs/results/rank-criteo-3seeds-reference.jsonl \\
        --scores docs/results/rank-criteo-scores.jsonl --half-width-from docs/results/search-quality-criteo.json \\
        --json docs/results/search-headroom-criteo.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import norm

from nasrec.evaluators.ranking import seed_taus
from nasrec.evaluators.study_records import StudyScore, read_reference_table
from nasrec.state import read_jsonl


def load(reference: Path, scores: Path, proxy: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The proxy's score [N] and the reference runs' `metric` [N, S] of every genotype with a proxy score and
    S runs (S: the run count most such genotypes have, at least 2; a failed run leaves its genotype out)."""
    proxy_scores = {
        r.digest: r.score.log_loss
        for r in read_jsonl(scores, StudyScore)
        if r.label == proxy and r.score is not None and r.score.log_loss is not None
    }
    if not proxy_scores:
        raise SystemExit(f"{scores}: no scores labelled {proxy!r}")
    rows = []
    for record in read_reference_table(reference):
        runs = {run.seed: getattr(run, metric) for run in record.runs if getattr(run, metric) is not None}
        if len(runs) >= 2 and record.digest in proxy_scores:
            rows.append((proxy_scores[record.digest], [runs[s] for s in sorted(runs)]))
    if len(rows) < 10:
        raise SystemExit(f"{reference}: only {len(rows)} genotypes have two reference runs and a {proxy!r} score")
    counts = [len(r) for _, r in rows]
    seeds = max(set(counts), key=counts.count)  # most genotypes' run count; those with fewer are left out
    kept = [(p, r[:seeds]) for p, r in rows if len(r) >= seeds]
    return np.asarray([p for p, _ in kept]), np.asarray([r for _, r in kept])


def seed_sd(runs: np.ndarray) -> float:
    """One scratch run's standard deviation around its genotype's mean (pooled within-genotype variance)."""
    return float(np.sqrt(np.mean(np.var(runs, axis=1, ddof=1))))


def seed_agreement(runs: np.ndarray) -> dict[str, dict[str, float | None]]:
    """The reference's own noise as a ranking: Kendall tau between every two seeds' runs, and between each seed
    and the mean of the others."""
    taus = seed_taus(runs)
    pairs = {k: v for k, v in taus.items() if not k.endswith("-rest")}
    rest = {k.removesuffix("-rest"): v for k, v in taus.items() if k.endswith("-rest")}
    return {"pairs": pairs, "each_vs_mean_of_others": rest}


def true_scores(runs: np.ndarray, sd: float) -> np.ndarray:
    """Each genotype's expected score, estimated by shrinking its mean over the runs towards the table's mean by
    the share of the means' variance that is not the runs' noise (empirical Bayes)."""
    mean, noise = runs.mean(axis=1), sd**2 / runs.shape[1]
    between = max(float(np.var(mean, ddof=1)) - noise, 0.0)
    shrink = between / (between + noise) if between + noise > 0 else 1.0
    return mean.mean() + shrink * (mean - mean.mean())


def shortlist(proxy: np.ndarray, budget: int, top_k: int, rng: np.random.Generator) -> np.ndarray:
    """Random search's shortlist: `budget` draws from the table, the `top_k` distinct ones best by the proxy."""
    drawn = np.unique(rng.integers(0, len(proxy), size=budget))
    return drawn[np.argsort(proxy[drawn], kind="stable")[:top_k]]


def held_out(proxy: np.ndarray, runs: np.ndarray, args: argparse.Namespace, picked_by: int) -> dict[str, float]:
    """Model-free, from the table's own runs, each pick scored by the mean of the runs it was not picked on:
    random search's winner among its shortlist picked by the mean of `picked_by` runs (the pipeline's rule),
    by the proxy alone (the shortlist's first), or at random; and the pick by `picked_by` runs among every
    genotype of the table (what a search that trained them all would choose)."""
    rng = np.random.default_rng(args.seed)
    picks: dict[str, list[float]] = {"by_runs": [], "by_proxy": [], "at_random": [], "exhaustive_by_runs": []}
    for _ in range(args.draws):
        order = rng.permutation(runs.shape[1])
        pick, score = runs[:, order[:picked_by]].mean(axis=1), runs[:, order[picked_by:]].mean(axis=1)
        short = shortlist(proxy, args.budget, args.top_k, rng)
        picks["by_runs"].append(score[short[np.argmin(pick[short])]])
        picks["by_proxy"].append(score[short[0]])
        picks["at_random"].append(score[rng.choice(short)])
        picks["exhaustive_by_runs"].append(score[np.argmin(pick)])
    return {name: float(np.mean(values)) for name, values in picks.items()}


def modelled(proxy: np.ndarray, runs: np.ndarray, args: argparse.Namespace, picked_by: int) -> dict[str, float]:
    """Under a Gaussian model (each genotype's expected score from `true_scores`, each run that plus noise of
    `seed_sd`): the expected score of random search's winner and of the winner among the table's true `top_k`
    (the best shortlist any search could hand to the same noisy choice), and the table's best."""
    rng = np.random.default_rng(args.seed)
    sd = seed_sd(runs)
    truth = true_scores(runs, sd)
    best_k = np.argsort(truth, kind="stable")[: args.top_k]

    def choose(short: np.ndarray) -> float:
        observed = truth[short] + rng.normal(0.0, sd / np.sqrt(picked_by), size=len(short))
        return float(truth[short[np.argmin(observed)]])

    random = [choose(shortlist(proxy, args.budget, args.top_k, rng)) for _ in range(args.draws)]
    perfect = [choose(best_k) for _ in range(args.draws)]
    return {
        "random_pick": float(np.mean(random)),
        "perfect_shortlist_pick": float(np.mean(perfect)),
        "headroom": float(np.mean(random) - np.mean(perfect)),
        "best": float(truth.min()),
    }


def power(headroom: float, half_width: float, sd: float) -> float:
    """The chance that a true difference of `headroom` shows a 95 % interval of half-width `half_width` entirely
    below zero, when the estimate's seed-to-seed standard deviation is `sd` (normal approximation)."""
    if sd == 0:
        return float(headroom > half_width)
    return float(norm.cdf((headroom - half_width) / sd))


def headroom(args: argparse.Namespace) -> dict:
    proxy, runs = load(args.reference, args.scores, args.proxy, args.metric)
    sd = seed_sd(runs)
    # a difference of two models' means, each over final_seeds runs, averaged over search_seeds seeds
    sd_pooled = float(np.sqrt(2 / (args.final_seeds * args.search_seeds)) * sd)
    half_width = args.half_width
    if args.half_width_from:
        ci = json.loads(args.half_width_from.read_text())["pooled_vs_nasrecnet"]["random search"]["log_loss"]
        half_width = (ci["high"] - ci["low"]) / 2
    mean = runs.mean(axis=1)
    best = int(np.argmin(proxy))
    models = {str(r): modelled(proxy, runs, args, r) for r in (1, 2, 3)}
    result: dict = {
        "reference": str(args.reference),
        "proxy": args.proxy,
        "metric": args.metric,
        "genotypes": len(proxy),
        "seeds": runs.shape[1],
        "budget": args.budget,
        "top_k": args.top_k,
        "draws": args.draws,
        "seed_sd": sd,
        "seed_kendall_tau": seed_agreement(runs),
        "table_best_mean": float(mean.min()),
        "table_top10_range": float(np.sort(mean)[9] - mean.min()) if len(mean) >= 10 else None,
        "held_out": {str(r): held_out(proxy, runs, args, r) for r in range(1, runs.shape[1])},
        # how much of the proxy's edge is its single best genotype: the same, with that genotype left out
        "held_out_without_the_proxys_best": held_out(np.delete(proxy, best), np.delete(runs, best, axis=0), args, 1),
        "modelled": models,
        "final_seeds": args.final_seeds,
        "search_seeds": args.search_seeds,
        "seed_sd_of_pooled_difference": sd_pooled,
        # the chance that the pooled mean difference alone is below zero (a target on means, e.g. mean regret)
        "mean_below_zero": {r: power(m["headroom"], 0.0, sd_pooled) for r, m in models.items()},
    }
    if half_width is not None:
        result["ci_half_width"] = float(half_width)
        result["power"] = {r: power(m["headroom"], float(half_width), sd_pooled) for r, m in models.items()}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=Path, required=True, help="a ranking study's reference table (.jsonl)")
    ap.add_argument("--scores", type=Path, required=True, help="the same study's scores.jsonl")
    ap.add_argument("--proxy", default="any-connection/fast", help="the proxy the search uses (a scores label)")
    ap.add_argument("--metric", default="log_loss", choices=["log_loss", "regret"])
    ap.add_argument("--budget", type=int, default=64)
    ap.add_argument("--top-k", type=int, default=4)
    ap.add_argument("--final-seeds", type=int, default=2)
    ap.add_argument("--search-seeds", type=int, default=3)
    ap.add_argument("--half-width", type=float, help="the pooled CI's half-width (test rows' noise)")
    ap.add_argument("--half-width-from", type=Path, help="a search_quality.py JSON to read the half-width from")
    ap.add_argument("--draws", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result = headroom(args)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
