"""What a search run writes: the run folder layout and its JSON / JSONL records.

```
RUN/
  config.json                 the run's config (RunConfig), seed and versions
  supernet/checkpoint.pt      supernet weights (atomic; loaded with weights_only=True)
  supernet/train_log.jsonl    supernet training losses
  search/evaluations.jsonl    one Evaluation per scored candidate, appended with fsync
  topk/evaluations.jsonl      one TopKResult per top-k candidate trained from scratch
  final/results.jsonl         one FinalResult per model scored on test (NASRecNet, zoo, random baseline)
  best_genotype.json          NASRecNet
  best_genotype.svg           its diagram
  summary.json                Summary
  report.html                 the HTML report
```
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nasrec.evaluators.base import Score

M = TypeVar("M", bound=BaseModel)


class Evaluation(BaseModel):
    """One candidate scored during the search (a line of `search/evaluations.jsonl`)."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(description="0-based order of completion")
    digest: str
    genotype: dict[str, Any]
    score: Score | None = None
    error: str | None = Field(default=None, description="why the evaluation failed, if it did")
    seed: int
    seconds: float


class TopKResult(BaseModel):
    """A top-k candidate trained from scratch (a line of `topk/evaluations.jsonl`)."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(description="1-based rank by proxy score")
    digest: str
    genotype: dict[str, Any]
    proxy: Score
    full: Score = Field(description="standalone model trained from scratch, scored on validation")


class FinalResult(BaseModel):
    """A model retrained on train + validation and scored on test (a line of `final/results.jsonl`)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["nasrec", "zoo", "random"]
    digest: str
    genotype: dict[str, Any]
    test: Score


class Summary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    best_digest: str
    best_genotype: str = Field(description="path of best_genotype.json, relative to the run folder")
    results: list[FinalResult]
    stage_seconds: dict[str, float]
    evaluations: int


class RunPaths:
    """Paths inside a run folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.config = self.root / "config.json"
        self.supernet = self.root / "supernet" / "checkpoint.pt"
        self.supernet_log = self.root / "supernet" / "train_log.jsonl"
        self.evaluations = self.root / "search" / "evaluations.jsonl"
        self.topk = self.root / "topk" / "evaluations.jsonl"
        self.final = self.root / "final" / "results.jsonl"
        self.best_genotype = self.root / "best_genotype.json"
        self.best_diagram = self.root / "best_genotype.svg"
        self.summary = self.root / "summary.json"
        self.report = self.root / "report.html"


def append_jsonl(path: str | Path, record: BaseModel | dict[str, Any]) -> None:
    """Append one JSON line and fsync, so a finished record survives a crash."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = record.model_dump_json() if isinstance(record, BaseModel) else json.dumps(record)
    with open(path, "a") as fh:
        fh.write(text + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: str | Path, model: type[M]) -> list[M]:
    """Read records; a corrupt or partial LAST line (a run killed mid-write) is dropped with a warning and
    cut from the file so appending continues cleanly. A corrupt line elsewhere is an error naming it."""
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    records: list[M] = []
    offset = 0
    for i, line in enumerate(lines):
        last = all(not rest.strip() for rest in lines[i + 1:])
        if line.strip():
            try:
                records.append(model.model_validate_json(line))
            except ValidationError as exc:
                if not last:
                    raise ValueError(f"{path}, line {i + 1}: not a valid {model.__name__} record: "
                                     f"{exc.errors(include_url=False)[0]['msg']}") from None
                warnings.warn(f"{path}, line {i + 1}: dropped an incomplete last record (interrupted write)",
                              RuntimeWarning, stacklevel=2)
                with open(path, "r+b") as fh:
                    fh.truncate(offset)
                return records
        offset += len(line) + 1
    if raw and not raw.endswith(b"\n"):  # complete record, newline lost: restore it before appending
        with open(path, "ab") as fh:
            fh.write(b"\n")
    return records
