"""Ranking-fidelity study: how well each proxy orders sampled genotypes like training from scratch does.

    out/supernet/             the supernet trained on the train split (resumable)
    out/scores.jsonl          one StudyScore per (evaluator, genotype), appended as they finish (resumable)
    out/results.json          RankStudyResult: agreement of every proxy with full training
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nasrec.evaluators.base import Evaluator, Score, build_evaluator
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.distributed import resolve_device
from nasrec.evaluators.ranking import RankAgreement, agreement
from nasrec.evaluators.supernet_training import SupernetTrainingConfig, train_supernet
from nasrec.evaluators.training import TrainConfig
from nasrec.genotype import Genotype, get_space, sample
from nasrec.genotype.sampling import DEFAULT_SAMPLER
from nasrec.genotype.io import GenotypeJSON
from nasrec.state import RunLock, Stage, atomic_write_text, pin_config

REFERENCE = "full"


class RankStudyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str = "sample:criteo"
    space: str = "nasrec-full"
    n: int = Field(default=30, ge=3, description="genotypes sampled")
    sampler: str = DEFAULT_SAMPLER
    seed: int = 0
    supernet_epochs: float = 1.0
    full_epochs: float = 1.0
    finetune_train_rows: int = 8192
    paper_steps: int = 500
    valid_rows: int | None = None
    top_k: int = 5
    device: str = Field(default="cpu", description="cpu, cuda or auto: where the supernet and models train")

    def supernet_config(self) -> SupernetTrainingConfig:
        return SupernetTrainingConfig(data=self.data, space=self.space,
                                      train=TrainConfig(epochs=self.supernet_epochs, seed=self.seed))

    def evaluators(self, checkpoint: Path) -> dict[str, tuple[str, dict[str, Any]]]:
        """label -> (evaluator name, config); `full` is the reference the proxies are compared with."""
        proxy = {"data": self.data, "supernet": str(checkpoint), "valid_rows": self.valid_rows, "seed": self.seed,
                 "device": self.device}
        return {
            "supernet": ("supernet", proxy),
            "finetune-paper": ("finetune", {**proxy, "recipe": "paper", "steps": self.paper_steps}),
            "finetune-fast": ("finetune", {**proxy, "recipe": "fast", "train_rows": self.finetune_train_rows}),
            REFERENCE: ("full", {"data": self.data, "seed": self.seed, "device": self.device,
                                 "train": TrainConfig(epochs=self.full_epochs, seed=self.seed).model_dump()}),
        }


class StudyScore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str
    digest: str
    genotype: GenotypeJSON
    score: Score


class RankStudyResult(BaseModel):
    config: RankStudyConfig
    agreement: dict[str, RankAgreement]
    seconds_per_candidate: dict[str, float]
    supernet_seconds: float


def rank_study(config: RankStudyConfig, out: str | Path, progress: bool = False) -> RankStudyResult:
    """Run (or resume) the study in `out`; raises `RunFolderBusy` when another process runs on it."""
    out = Path(out)
    get_space(config.space), open_data(config.data), resolve_device(config.device)  # checked before any write
    with RunLock(out, "rank-study folder"):
        pin_config(out / "config.json", config, what="rank study", ignore=("device",))
        start = time.perf_counter()
        train_supernet(config.supernet_config(), out / "supernet", progress=progress, device=config.device)
        supernet_seconds = time.perf_counter() - start
        genotypes = _distinct_samples(config)
        stage = Stage(out / "scores.jsonl", StudyScore, key=lambda s: (s.label, s.digest))
        for label, (name, cfg) in config.evaluators(out / "supernet" / "checkpoint.pt").items():
            todo = [g for g in genotypes if (label, g.digest()) not in stage]
            if todo:  # the evaluator (a supernet load) is built only when it has work
                _score(stage, label, build_evaluator(name, cfg), todo)
        result = summarize(config, stage.records, genotypes, supernet_seconds)
        atomic_write_text(out / "results.json", result.model_dump_json(indent=2))
        return result


def _score(stage: Stage[tuple[str, str], StudyScore], label: str, evaluator: Evaluator,
           genotypes: list[Genotype]) -> None:
    """One genotype at a time, each logged as it finishes: a killed study loses at most one evaluation."""
    stage.run(genotypes, key=lambda g: (label, g.digest()),
              make=lambda g: StudyScore(label=label, digest=g.digest(), genotype=g, score=evaluator.evaluate([g])[0]))


def _distinct_samples(config: RankStudyConfig) -> list[Genotype]:
    out: dict[str, Genotype] = {}
    seed = config.seed
    while len(out) < config.n:
        g = sample(config.space, config.sampler, [config.seed, seed])  # type: ignore[arg-type]
        out.setdefault(g.digest(), g)
        seed += 1
    return list(out.values())


def summarize(config: RankStudyConfig, done: dict[tuple[str, str], StudyScore], genotypes: list[Genotype],
              supernet_seconds: float) -> RankStudyResult:
    digests = [g.digest() for g in genotypes]
    reference = [done[(REFERENCE, d)].score.log_loss for d in digests]
    labels = sorted({label for label, _ in done})
    agreements = {label: agreement([done[(label, d)].score.log_loss for d in digests], reference, config.top_k)
                  for label in labels if label != REFERENCE}
    seconds = {label: sum(done[(label, d)].score.seconds for d in digests) / len(digests) for label in labels}
    return RankStudyResult(config=config, agreement=agreements, seconds_per_candidate=seconds,
                           supernet_seconds=supernet_seconds)
