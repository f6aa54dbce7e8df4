"""What a ranking study's committed tables say beyond its Kendall taus, read from its files (no training).

1. **Scratch training as a proxy, from the reference's own curves.** Every reference run stores its
   validation log loss at each validation. For each validation step k: Kendall tau between one seed's best
   validation log loss up to step k (a scratch run stopped at k with its best weights) and the *other* seed's
   final reference score (regret on oracle data), both ways round and their mean. At the last step this is the
   study's seed-to-seed ceiling; earlier steps show how soon scratch training ranks like the reference, at
   k / cap of its cost. The learning-rate schedule is the reference's (cosine over the whole cap), so a run
   planned for k steps would anneal earlier: these figures are what the committed runs measured, not a tuned
   short-training proxy.
2. **Where the proxies' agreement comes from.** Each proxy's Kendall tau against the reference (mean over
   seeds) after dropping the d genotypes the reference ranks worst, for several d; the reference's
   seed-to-seed tau on the same genotypes beside it.
3. **The proxies' own noise** (`--twin FILE`): another log of the same proxies from a second supernet of the
   same config (e.g. the same seed trained with another thread count, whose float rounding differs): per
   proxy, Kendall tau between the two supernets' scores, and each one's tau against the reference. On the
   oracle study the twin is the reference process's own supernet (2 threads; it scores the main supernet's
   `none` and `fast` before training the reference):

    grep -E '"label":"any-connection/(none|fast)"' runs/rank-oracle/scores.jsonl \\
        > docs/results/rank-oracle-twin-scores.jsonl

    python benchmarks/rank_diagnostics.py docs/results/rank-oracle --twin docs/results/rank-oracle-twin-scores.jsonl \\
        --json docs/results/rank-oracle-diagnostics.json
    python benchmarks/rank_diagnostics.py docs/results/rank-criteo --json docs/results/rank-criteo-diagnostics.json

4. **Proxies combined.** Every pair and triple of the study's proxies, their ranks averaged (a combined proxy
   at the sum of their costs): the best combinations' Kendall tau against the reference beside the best single
   proxy's (the best of many, so optimistic). Proxies that err together gain nothing from being combined.

STUDY names a study's committed files: STUDY-reference.jsonl (the reference table) and STUDY-scores.jsonl
(every score).
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from nasrec.evaluators.base import Score, SeedRun
from nasrec.evaluators.ranking import kendall_tau
from nasrec.evaluators.study_records import REFERENCE, ReferenceEntry, StudyScore, read_reference_table
from nasrec.state import read_jsonl

DROPS = (0, 1, 2, 3, 5, 8)


def run_score(run: SeedRun | Score) -> float:
    """One reference run's (or seed's score's) final score: regret where the data has it, else the log loss."""
    value = run.regret if run.regret is not None else run.log_loss
    if value is None:
        raise ValueError(f"a score of evaluator {getattr(run, 'evaluator', 'full')!r} has no log loss")
    return float(value)


def _best_until(run: SeedRun, step: int) -> float:
    return min(p.log_loss for p in run.curve if p.step <= step)


def _mean(values: Sequence[float | None]) -> float | None:
    """The mean of taus, None where any is undefined (a constant score list)."""
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if len(known) == len(values) else None


def _grouped(records: list[StudyScore]) -> tuple[dict[tuple[str, str], Score], list[str], list[str]]:
    """The scored records by (label, digest), the reference's seed labels, and the proxies' labels (in order)."""
    ok = {(r.label, r.digest): r.score for r in records if r.score is not None}
    seeds = sorted({label for label, _ in ok if label.startswith(f"{REFERENCE}/")})
    proxies = [label for label in dict.fromkeys(label for label, _ in ok) if label not in seeds]
    return ok, seeds, proxies


def curve_agreement(table: list[ReferenceEntry]) -> list[dict[str, Any]]:
    """Per validation step: tau of each seed's best validation log loss so far against the other seed's final
    score (seed 0 -> 1, seed 1 -> 0) and their mean, on the genotypes with two runs that validated by then."""
    rows = [row for row in table if len(row.runs) >= 2]
    if len(rows) < 3:
        raise SystemExit(f"need at least 3 genotypes with two reference runs, the table has {len(rows)}")
    cap = max(run.steps for row in rows for run in row.runs)
    steps = sorted({p.step for row in rows for run in row.runs[:2] for p in run.curve})
    out = []
    for k in steps:
        ready = [row for row in rows if all(run.curve[0].step <= k for run in row.runs[:2])]
        if len(ready) < 3:
            continue
        ways = [
            kendall_tau([_best_until(r.runs[a], k) for r in ready], [run_score(r.runs[b]) for r in ready])
            for a, b in ((0, 1), (1, 0))
        ]
        out.append(
            {"step": k, "share_of_cap": round(k / cap, 3), "n": len(ready), "kendall_tau": ways, "mean": _mean(ways)}
        )
    return out


def without_worst(records: list[StudyScore], drops: Sequence[int] = DROPS) -> dict[str, Any]:
    """Each proxy's tau against the reference mean after dropping the `d` genotypes the reference ranks worst."""
    ok, seeds, proxies = _grouped(records)
    digests = {d for _, d in ok}
    complete = [d for d in sorted(digests) if all((s, d) in ok for s in seeds)]

    def metric(label: str, d: str) -> float:
        return run_score(ok[(label, d)])

    reference = {d: float(np.mean([metric(s, d) for s in seeds])) for d in complete}
    order = sorted(complete, key=reference.__getitem__)  # best first
    result: dict[str, Any] = {"drops": list(drops), "genotypes": len(order), "proxies": {}, "reference_seeds": []}
    for d in drops:
        keep = order[: len(order) - d]
        if len(seeds) >= 2:
            result["reference_seeds"].append(
                kendall_tau([metric(seeds[0], g) for g in keep], [metric(seeds[1], g) for g in keep])
            )
        for label in proxies:
            have = [g for g in keep if (label, g) in ok]
            tau = (
                kendall_tau([ok[(label, g)].value for g in have], [reference[g] for g in have])
                if len(have) >= 3
                else None
            )
            result["proxies"].setdefault(label, []).append(tau)
    return result


def twin_agreement(records: list[StudyScore], twin: list[StudyScore]) -> dict[str, dict[str, Any]]:
    """Per proxy label in both logs: tau between the two logs' scores, and each log's tau against the reference
    (the mean over `records`' reference seeds), on the genotypes both scored."""
    ok, seeds, _ = _grouped(records)
    other = _grouped(twin)[0]

    def reference(d: str) -> float:
        return float(np.mean([run_score(ok[(x, d)]) for x in seeds]))

    out = {}
    for label in dict.fromkeys(label for label, _ in other):
        if label.startswith(f"{REFERENCE}/"):
            continue
        digests = [d for lab, d in ok if lab == label and (label, d) in other and all((x, d) in ok for x in seeds)]
        if len(digests) < 3:
            continue
        a, b = [ok[(label, d)].value for d in digests], [other[(label, d)].value for d in digests]
        ref = [reference(d) for d in digests]
        out[label] = {
            "n": len(digests),
            "between": kendall_tau(a, b),
            "vs_reference": [kendall_tau(a, ref), kendall_tau(b, ref)],
        }
    return out


def combined(records: list[StudyScore], sizes: Sequence[int] = (2, 3), top: int = 3) -> dict[str, Any]:
    """The best single proxy and the `top` best rank-averaged combinations of each size in `sizes`, by Kendall
    tau against the reference mean, on the genotypes every proxy and reference seed scored."""
    ok, seeds, proxies = _grouped(records)
    digests = sorted({d for _, d in ok if all((x, d) in ok for x in [*seeds, *proxies])})
    reference = [float(np.mean([run_score(ok[(s, d)]) for s in seeds])) for d in digests]
    ranks = {label: rankdata([ok[(label, d)].value for d in digests]) for label in proxies}

    def tau(labels: tuple[str, ...]) -> float | None:
        return kendall_tau(np.sum([ranks[label] for label in labels], axis=0), reference)

    def best(labels: list[tuple[str, ...]]) -> list[dict[str, Any]]:
        scored = [(t, c) for c in labels if (t := tau(c)) is not None]
        return [{"proxies": list(c), "kendall_tau": t} for t, c in sorted(scored, reverse=True)[:top]]

    result: dict[str, Any] = {"genotypes": len(digests), "single": best([(label,) for label in proxies])[:1]}
    result["combinations"] = {}
    for size in sizes:
        candidates = list(itertools.combinations(proxies, size))
        result["combinations"][str(size)] = len(candidates)  # the best of many: read its tau as optimistic
        result[str(size)] = best(candidates)
    return result


def diagnose(study: str, twin: Path | None = None) -> dict[str, Any]:
    table = read_reference_table(f"{study}-reference.jsonl")
    records = list(read_jsonl(Path(f"{study}-scores.jsonl"), StudyScore))
    result = {
        "study": study,
        "curve": curve_agreement(table),
        "without_worst": without_worst(records),
        "combined": combined(records),
    }
    if twin is not None:
        result["twin"] = {"file": str(twin), "proxies": twin_agreement(records, list(read_jsonl(twin, StudyScore)))}
    return result


def _fmt(x: float | None) -> str:
    return "   -  " if x is None else f"{x:+.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study", help="the committed files' common prefix, e.g. docs/results/rank-oracle")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--twin", type=Path, help="the same proxies' log from a second supernet of the same config")
    args = ap.parse_args()
    result = diagnose(args.study, args.twin)
    print(
        f"{args.study}: scratch training as a proxy (one seed's best validation log loss so far vs the other's final)"
    )
    for row in result["curve"]:
        print(f"  step {row['step']:5d} ({row['share_of_cap']:.2f} of the cap, n={row['n']}): tau {_fmt(row['mean'])}")
    worst = result["without_worst"]
    print(f"tau without the d worst genotypes of the reference ({worst['genotypes']} genotypes), d = {worst['drops']}")
    print(f"  {'reference seed 0 vs 1':32s}", " ".join(_fmt(x) for x in worst["reference_seeds"]))
    for label, taus in worst["proxies"].items():
        print(f"  {label:32s}", " ".join(_fmt(x) for x in taus))
    for label, twin in result.get("twin", {}).get("proxies", {}).items():
        a, b = twin["vs_reference"]
        print(f"twin supernets, {label}: tau {_fmt(twin['between'])} between them; {_fmt(a)}, {_fmt(b)} vs reference")
    both = result["combined"]
    counts = ", ".join(f"{n} of size {k}" for k, n in both["combinations"].items())
    print(
        f"proxies combined (ranks averaged, {both['genotypes']} genotypes; {counts}): the best single and best of each"
    )
    for key in ("single", "2", "3"):
        for c in both[key]:
            print(f"  {_fmt(c['kendall_tau'])}  {' + '.join(c['proxies'])}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
