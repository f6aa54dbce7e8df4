"""A ranking study's agreements: every proxy's against the reference (the mean over its seeds), the reference's
own seed-to-seed agreement (the ceiling), paired differences of two proxies and several proxies pooled."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

from nasrec.errors import UsageError
from nasrec.evaluators.base import Score
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.rank_study_config import RankStudyConfig
from nasrec.evaluators.ranking import RankAgreement, agreement, kendall_difference, seed_taus
from nasrec.evaluators.study_records import REFERENCE, StudyScore
from nasrec.genotype import Genotype


class RankStudyResult(BaseModel):
    config: RankStudyConfig
    reference_metric: str
    reference_n: int = Field(description="genotypes with every reference seed done")
    seed_agreement: RankAgreement | None = Field(description="reference seed 0 vs seed 1: the ceiling")
    seed_taus: dict[str, float] = Field(
        default_factory=dict,
        description="with 3+ reference seeds, Kendall tau of every two ('0-2') and of each seed against the mean of "
        "the others ('0-rest'): proxies are scored against the mean of all the seeds, steadier than any one, so "
        "these bracket the ceiling rather than set it",
    )
    agreement: dict[str, RankAgreement]
    seconds_per_candidate: dict[str, float]
    supernet_seconds: dict[str, float]
    failed: dict[str, int] = Field(default_factory=dict, description="evaluations that failed (diverged), by label")
    supernet_diverged_steps: dict[str, int] = Field(
        default_factory=dict, description="steps the divergence guard counted while each supernet trained"
    )


def metric_of(config: RankStudyConfig) -> str:
    if config.reference_metric != "auto":
        return config.reference_metric
    return "regret" if open_data(config.data).prob is not None else "log_loss"


def _value(score: Score, metric: str) -> float:
    if metric == "regret" and score.regret is not None:
        return score.regret
    return score.value


def _scored(
    config: RankStudyConfig, done: dict[tuple[str, str], StudyScore], genotypes: list[Genotype]
) -> tuple[dict[tuple[str, str], Score], dict[str, float]]:
    """The log's scores that did not fail, and digest -> the reference's mean over its seeds for the genotypes
    whose every seed is done."""
    ok = {key: r.score for key, r in done.items() if r.score is not None}
    metric, seeds = metric_of(config), [f"{REFERENCE}/seed{i}" for i in range(config.reference_seeds)]
    complete = [g.digest() for g in genotypes if all((s, g.digest()) in ok for s in seeds)]
    return ok, {d: float(np.mean([_value(ok[(s, d)], metric) for s in seeds])) for d in complete}


def paired_difference(
    config: RankStudyConfig, done: dict[tuple[str, str], StudyScore], genotypes: list[Genotype], a: str, b: str
) -> dict[str, float | int]:
    """Proxy `a`'s Kendall tau minus proxy `b`'s against the reference, on the genotypes both scored, with a
    paired bootstrap 95 % interval over genotypes."""
    ok, reference = _scored(config, done, genotypes)
    digests = [d for d in reference if (a, d) in ok and (b, d) in ok]
    diff, low, high = kendall_difference(
        [ok[(a, d)].value for d in digests], [ok[(b, d)].value for d in digests], [reference[d] for d in digests]
    )
    return {"n": len(digests), "difference": round(diff, 4), "low": round(low, 4), "high": round(high, 4)}


def pooled_agreement(
    config: RankStudyConfig, done: dict[tuple[str, str], StudyScore], genotypes: list[Genotype], labels: Sequence[str]
) -> RankAgreement:
    """Agreement with the reference of several proxies pooled: each proxy's scores standardised over the genotypes
    every one of them scored, then averaged (e.g. one recipe on supernets trained with different seeds)."""
    ok, reference = _scored(config, done, genotypes)
    digests = [d for d in reference if all((label, d) in ok for label in labels)]
    if len(digests) < 3:
        raise UsageError(f"pooled agreement of {', '.join(labels)}: {len(digests)} genotypes scored by all of them")
    scores = np.array([[ok[(label, d)].value for d in digests] for label in labels])
    spread = scores.std(axis=1, keepdims=True)
    pooled = ((scores - scores.mean(axis=1, keepdims=True)) / np.where(spread > 0, spread, 1.0)).mean(axis=0)
    return agreement(pooled, [reference[d] for d in digests], config.top_k)


def summarize(
    config: RankStudyConfig,
    done: dict[tuple[str, str], StudyScore],
    genotypes: list[Genotype],
    supernet_seconds: dict[str, float],
) -> RankStudyResult:
    """Agreements on the genotypes whose every reference seed is done and did not diverge (proxies missing
    some are left out)."""
    metric = metric_of(config)
    seeds = [f"{REFERENCE}/seed{i}" for i in range(config.reference_seeds)]
    ok, reference = _scored(config, done, genotypes)
    complete = list(reference)
    failed = {
        label: sum(1 for (lab, _), r in done.items() if lab == label and r.score is None)
        for label in dict.fromkeys(label for label, _ in done)
    }
    seed_agreement = None
    if len(seeds) > 1 and len(complete) >= 3:
        seed_agreement = agreement(
            [_value(ok[(seeds[0], d)], metric) for d in complete],
            [_value(ok[(seeds[1], d)], metric) for d in complete],
            config.top_k,
        )
    seed_taus = _seed_taus(np.array([[_value(ok[(s, d)], metric) for s in seeds] for d in complete]))
    labels = list(dict.fromkeys(label for label, _ in done))
    agreements: dict[str, RankAgreement] = {}
    for label in labels:
        if label.startswith(f"{REFERENCE}/"):
            continue
        digests = [d for d in complete if (label, d) in ok]
        if len(digests) >= 3:
            agreements[label] = agreement(
                [ok[(label, d)].value for d in digests], [reference[d] for d in digests], config.top_k
            )
    seconds = {}
    for label in labels:
        values = [  # records copied from a reference table carry no time
            ok[(label, g.digest())].seconds
            for g in genotypes
            if (label, g.digest()) in ok and "reference_table" not in ok[(label, g.digest())].config
        ]
        seconds[label] = round(float(np.mean(values)), 3) if values else float("nan")
    return RankStudyResult(
        config=config,
        reference_metric=metric,
        reference_n=len(complete),
        seed_agreement=seed_agreement,
        seed_taus=seed_taus,
        agreement=agreements,
        seconds_per_candidate=seconds,
        supernet_seconds=supernet_seconds,
        failed={k: v for k, v in failed.items() if v},
    )


def _seed_taus(runs: np.ndarray) -> dict[str, float]:
    """`RankStudyResult.seed_taus` of `runs` [genotypes, seeds] ({} with fewer than 3 seeds or genotypes)."""
    if runs.ndim != 2 or runs.shape[1] < 3 or runs.shape[0] < 3:
        return {}
    return {k: round(v, 4) for k, v in seed_taus(runs).items() if v is not None}
