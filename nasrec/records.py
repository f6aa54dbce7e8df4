"""What a search run writes: the run folder layout and its JSON / JSONL records. Shared by the pipeline
that writes a run folder and the report that reads one; records carry `Genotype` objects, written as the
genotype's JSON (`Genotype.to_dict()`).

```
RUN/
  .lock                       held by the process running on the folder (holds its pid)
  config.json                 the run's config (RunConfig), seed and versions
  supernet/config.json        the supernet's training config (SupernetTrainingConfig)
  supernet/checkpoint.pt      supernet weights (atomic; loaded with weights_only=True)
  supernet/training.json      what the supernet's training reported (diverged steps, ...)
  search/evaluations.jsonl    one Evaluation per scored candidate, appended with fsync
  search/stats.json           what the strategy counted: rejections by the budgets, a surrogate's Kendall tau
  topk/evaluations.jsonl      one TopKResult per top-k candidate trained from scratch
  random/evaluations.jsonl    the random-search baseline's Evaluations (same budget)
  random/topk.jsonl           its top-k TopKResults
  random/stats.json           its strategy's counts, as search/stats.json
  */checkpoints/              the top-k, random and final stages' scratch trainings, as they go (resumable)
  final/results.jsonl         one FinalResult per model scored on test (NASRecNet, zoo, random baseline)
  final/logits-NAME-D.npy     test logits [seeds, rows] of the model NAME (genotype digest D), for the intervals
  final/comparisons.json      NASRecNet minus each model with paired intervals (Comparisons), computed once
  final/nasrecnet.pt          NASRecNet's trained model, the final seed that validated best (`save_weights`)
  final/diverged.jsonl        one FinalDiverged per other final model whose every try diverged (left out)
  best_genotype.json          NASRecNet
  best_genotype.svg           its diagram
  summary.json                Summary
  stage_times.jsonl           each stage's seconds, per call (a rerun appends)
  report.html                 the HTML report
```
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nasrec.evaluators.base import Score
from nasrec.evaluators.stats import Interval
from nasrec.genotype.io import GenotypeJSON

__all__ = [
    "Comparison",
    "Comparisons",
    "Evaluation",
    "FinalDiverged",
    "FinalResult",
    "FrontMember",
    "RunPaths",
    "Summary",
    "TopKResult",
]


class Evaluation(BaseModel):
    """One candidate scored during the search (a line of `search/evaluations.jsonl`)."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(description="0-based order of completion")
    digest: str
    genotype: GenotypeJSON
    score: Score | None = None
    error: str | None = Field(default=None, description="why the evaluation failed, if it did")
    seed: int
    seconds: float


class TopKResult(BaseModel):
    """A top-k candidate trained from scratch (a line of `topk/evaluations.jsonl`)."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(description="1-based rank by proxy score")
    digest: str
    genotype: GenotypeJSON
    proxy: Score
    full: Score | None = Field(description="standalone model trained from scratch, scored on validation")
    error: str | None = Field(default=None, description="why training from scratch failed (it diverged)")

    @property
    def valid_value(self) -> float:
        """The validation score to pick the best by; a diverged candidate ranks last."""
        return self.full.value if self.full is not None else float("inf")


class FinalResult(BaseModel):
    """A model of the final comparison trained by the run's `final_protocol` and scored on test (a line of
    `final/results.jsonl`)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["nasrec", "zoo", "random"]
    digest: str
    genotype: GenotypeJSON
    test: Score


class FinalDiverged(BaseModel):
    """A model of the final comparison (not NASRecNet: its divergence stops the run) whose every training try
    diverged on one of its seeds: left out of the comparison, and not trained again by a rerun (a line of
    `final/diverged.jsonl`)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["zoo", "random"]
    digest: str
    genotype: GenotypeJSON
    error: str = Field(description="the training's error: the seed, the tries, the last one's step and loss")


class Comparison(BaseModel):
    """NASRecNet's test log loss and AUC minus this model's, with paired 95 % intervals (pooled over seeds; each
    interval's `method` says how it was computed): a negative log-loss difference means NASRecNet is better."""

    log_loss: Interval
    auc: Interval


class Comparisons(BaseModel):
    """`final/comparisons.json`: the paired intervals of the final models `of`, (name, digest, test log loss) each,
    kept so a rerun of a finished run reuses them instead of computing them again from every model's test logits
    (the bootstrap, used up to 40,000 test rows, `stats.BOOTSTRAP_MAX_ROWS`, takes a while; above that the
    intervals are the quicker normal and DeLong ones)."""

    model_config = ConfigDict(extra="forbid")

    of: list[tuple[str, str, float | None]]
    comparisons: dict[str, Comparison]


class FrontMember(BaseModel):
    """A candidate on the Pareto front of the search's objectives (proxy log loss, FLOPs, params)."""

    model_config = ConfigDict(extra="forbid")

    digest: str
    values: dict[str, float] = Field(description="objective -> value (all minimised)")
    full_log_loss: float | None = Field(default=None, description="trained from scratch (top-k), validation")


class StageTime(BaseModel):
    """One call's time in one stage (`RUN/stage_times.jsonl`): a resumed run adds a line per stage."""

    model_config = ConfigDict(extra="forbid")

    stage: str
    seconds: float


class Summary(BaseModel):
    """What `summary.json` holds: the pick, every final result, stage timings."""

    model_config = ConfigDict(extra="forbid")

    best_digest: str
    best_genotype: str = Field(description="path of best_genotype.json, relative to the run folder")
    results: list[FinalResult]
    stage_seconds: dict[str, float] = Field(description="seconds per stage, summed over every call that ran it")
    evaluations: int
    comparisons: dict[str, Comparison] = Field(default_factory=dict, description="NASRecNet minus each model")
    seeds: list[int] = Field(default_factory=list, description="seeds of the final trainings")
    objectives: list[str] = Field(default_factory=lambda: ["logloss"], description="what the search minimised")
    limits: dict[str, int] = Field(default_factory=dict, description="budgets (max_flops, max_params) applied")
    rejected: int = Field(default=0, description="proposals over a budget: never scored, never trained")
    front: list[FrontMember] = Field(default_factory=list, description="several objectives: the Pareto front")
    topk: list[str] = Field(
        default_factory=list, description="digests of this run's top-k candidates, by rank (the log may hold more)"
    )
    diverged: list[FinalDiverged] = Field(
        default_factory=list, description="final models whose every training try diverged: left out of results"
    )


class RunPaths:
    """Paths inside a run folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.config = self.root / "config.json"
        self.supernet = self.root / "supernet" / "checkpoint.pt"
        self.evaluations = self.root / "search" / "evaluations.jsonl"
        self.search_stats = self.root / "search" / "stats.json"
        self.topk = self.root / "topk" / "evaluations.jsonl"
        self.random_evaluations = self.root / "random" / "evaluations.jsonl"
        self.random_topk = self.root / "random" / "topk.jsonl"
        self.final = self.root / "final" / "results.jsonl"
        self.comparisons = self.root / "final" / "comparisons.json"
        self.final_diverged = self.root / "final" / "diverged.jsonl"
        self.best_weights = self.root / "final" / "nasrecnet.pt"  # NASRecNet's final model (`save_weights`)
        self.best_genotype = self.root / "best_genotype.json"
        self.best_diagram = self.root / "best_genotype.svg"
        self.summary = self.root / "summary.json"
        self.stage_times = self.root / "stage_times.jsonl"
        self.report = self.root / "report.html"

    def checkpoints(self, log: Path) -> Path:
        """Where the trainings of the stage logging to `log` (top-k, random baseline's top-k, final) keep their
        checkpoints while they run: `checkpoints/` beside it."""
        return log.parent / "checkpoints"

    def logits(self, name: str, digest: str) -> Path:
        """Where the final stage keeps the test logits of the model `name` (genotype digest `digest`): by name as
        well, since two models may share a genotype (random search often finds NASRecNet's)."""
        slug = re.sub(r"[^A-Za-z0-9_.]+", "-", name).strip("-")
        return self.final.parent / f"logits-{slug}-{digest}.npy"

    def logits_of(self, result: FinalResult, results: list[FinalResult]) -> Path:
        """The test logits of `result`, one of the final stage's `results`: its own file, or in a folder from
        before files were named by model too, `logits-D.npy` when every result of that genotype that lacks its own
        file scored the same (the same trainings; else that file may be another model's, and a `ValueError` says so)."""
        path = self.logits(result.name, result.digest)
        if path.exists():
            return path
        legacy = self.final.parent / f"logits-{result.digest}.npy"
        sharing = [r for r in results if r.digest == result.digest and not self.logits(r.name, r.digest).exists()]
        same = {(r.test.log_loss, r.test.auc, tuple(run.log_loss for run in r.test.runs)) for r in sharing}
        if len(same) > 1 and legacy.exists():  # equal scores: the same trainings (CPU runs are deterministic)
            raise ValueError(
                f"{legacy}: the test logits of {' and '.join(r.name for r in sharing)} (the same genotype, scored "
                "apart) were kept in one file by "
                f"an older nasrec and cannot be told apart; delete {self.final.parent} to train the final models again"
            )
        return legacy

    def is_run(self) -> bool:
        """Whether the folder holds a run of `nasrec search` (its `config.json`, written before any stage)."""
        try:
            saved = json.loads(self.config.read_text())
        except (OSError, ValueError):
            return False
        return isinstance(saved, dict) and "config" in saved
