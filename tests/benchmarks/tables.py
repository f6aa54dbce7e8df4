"""Reference-table entries for the benchmarks' tests: typed like a ranking study's `reference.jsonl`."""

from nasrec.evaluators.base import CurvePoint, SeedRun
from nasrec.evaluators.study_records import ReferenceEntry
from nasrec.genotype import Genotype, sample
from tests.spaces import TINY


def seed_run(log_loss: float, curve: list[tuple[int, float]] = ((1, 1.0),), regret=None, seed: int = 0) -> SeedRun:
    points = [CurvePoint(step=s, log_loss=v) for s, v in curve]
    return SeedRun(seed=seed, log_loss=log_loss, regret=regret, auc=0.5, steps=points[-1].step, curve=points)


def entry(*runs: SeedRun, genotype: Genotype | None = None, digest: str | None = None) -> ReferenceEntry:
    genotype = genotype or sample(TINY, rng=0)
    return ReferenceEntry(
        digest=digest or genotype.digest(),
        genotype=genotype,
        data="sample:criteo",
        flops=None,
        params=None,
        runs=list(runs),
        log_loss=sum(r.log_loss for r in runs) / len(runs),
        auc=0.5,
    )
