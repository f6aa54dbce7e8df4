"""A ranking study's records: `StudyScore`, one line of its log (`scores.jsonl`) per (label, genotype); and
its reference table (`reference.jsonl`), one `ReferenceEntry` per genotype with its scratch runs — the table
other studies and benchmarks read (`read_reference_table`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from nasrec.errors import UsageError
from nasrec.evaluators.base import Score, SeedRun, derive_seed
from nasrec.genotype import Genotype
from nasrec.genotype.io import GenotypeJSON
from nasrec.state import atomic_write_text, same_place

REFERENCE = "full"
"""Label prefix of the reference's records: `full/seed0`, `full/seed1`, ..."""


class StudyScore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str
    digest: str
    genotype: GenotypeJSON
    score: Score | None
    error: str | None = Field(default=None, description="why the evaluation failed (e.g. training diverged)")


class ReferenceEntry(BaseModel):
    """One genotype of a reference table (`reference.jsonl`): its scratch runs, one per seed, and their means."""

    model_config = ConfigDict(extra="forbid")

    digest: str
    genotype: GenotypeJSON
    data: str
    flops: int | None
    params: int | None
    runs: list[SeedRun]
    log_loss: float
    auc: float
    regret: float | None = Field(default=None, description="oracle data: the mean regret of the runs")


def read_reference_table(path: str | Path) -> list[ReferenceEntry]:
    """A reference table's entries, in its order (a study's `reference.jsonl` or a committed copy)."""
    lines = Path(path).read_text().splitlines()
    return [ReferenceEntry.model_validate_json(line) for line in lines if line.strip()]


def reference_records(path: str | Path, data: str, seed: int, seeds: int, examples: int) -> list[StudyScore]:
    """A reference table's runs as the `full/seed<i>` records of a study on `data` whose reference seed `i` is
    `seed + i` (i < `seeds`): each run's seed says which. They carry no time (`seconds` 0; `config` names the
    table). Raises UsageError naming the table when it was trained on other data (a path is the same data when
    it resolves to the same place: the study's `--data runs/x` and the table's absolute path agree)."""
    records = []
    for n, entry in enumerate(read_reference_table(path), 1):
        if not same_place(entry.data, data):
            raise UsageError(f"reference table {path}, line {n}: trained on {entry.data!r}, not on {data!r}")
        labels = {derive_seed(seed + i, entry.digest): f"{REFERENCE}/seed{i}" for i in range(seeds)}
        for run in entry.runs:
            if run.seed not in labels:
                continue  # a seed this study does not have
            score = Score(
                log_loss=run.log_loss,
                auc=run.auc,
                examples=examples,
                flops=entry.flops,
                params=entry.params,
                seconds=0.0,
                evaluator="full",
                config={"reference_table": str(path)},
                expected_log_loss=run.expected_log_loss,
                regret=run.regret,
                runs=[run],
            )
            records.append(
                StudyScore(label=labels[run.seed], digest=entry.digest, genotype=entry.genotype, score=score)
            )
    return records


def write_reference_table(
    data: str, seeds: int, done: Mapping[tuple[str, str], StudyScore], genotypes: list[Genotype], path: Path
) -> None:
    """One JSON line per genotype with its reference runs (`seeds` of them, `done`'s `full/seed<i>` records)
    on `data`: a reusable CTR benchmark table for NAS."""
    labels = [f"{REFERENCE}/seed{i}" for i in range(seeds)]
    lines = []
    for g in genotypes:
        records = (done.get((label, g.digest())) for label in labels)
        scores = [r.score for r in records if r is not None and r.score is not None]
        if not scores:
            continue
        regrets = [s.regret for s in scores if s.regret is not None]
        entry = ReferenceEntry(
            digest=g.digest(),
            genotype=g,
            data=data,
            flops=scores[0].flops,
            params=scores[0].params,
            runs=[run for s in scores for run in s.runs],
            log_loss=float(np.mean([s.log_loss for s in scores if s.log_loss is not None])),
            auc=float(np.mean([s.auc for s in scores if s.auc is not None])),
            regret=float(np.mean(regrets)) if len(regrets) == len(scores) else None,
        )
        lines.append(json.dumps(entry.model_dump(exclude={"regret"} if entry.regret is None else set())))
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))
