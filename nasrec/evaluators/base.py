"""The evaluator protocol and `Score`: what every evaluator returns for a genotype."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Annotated, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from nasrec.errors import UsageError
from nasrec.evaluators.guard import DivergenceReport
from nasrec.genotype import Genotype
from nasrec.registry import Registry

NanFloat = Annotated[float, BeforeValidator(lambda v: float("nan") if v is None else v)]
"""A float that may be NaN (a NaN validation loss, the AUC of one class), read back as NaN from the null that files
written before `_NAN_AS_STRING` hold."""
_NAN_AS_STRING = ConfigDict(ser_json_inf_nan="strings")
"""Scores write NaN and infinities to JSON as "NaN" and "Infinity" (valid JSON, read back as floats): written as null,
a NaN `Score.log_loss` read back as None, a score without a log loss."""


class CurvePoint(BaseModel):
    """One validation during training: the step it followed and the validation log loss."""

    model_config = _NAN_AS_STRING

    step: int
    log_loss: NanFloat


class SeedRun(BaseModel):
    """One training run (one seed) behind a Score of an evaluator that trains."""

    model_config = ConfigDict(extra="forbid", **_NAN_AS_STRING)

    seed: int
    log_loss: NanFloat
    auc: NanFloat
    expected_log_loss: float | None = None
    regret: float | None = None
    steps: int = Field(description="steps trained")
    best_step: int | None = Field(default=None, description="the step early stopping kept")
    curve: list[CurvePoint] = Field(default_factory=list, description="validation log loss during training")
    diverged_steps: int = 0
    first_diverged_step: int | None = Field(default=None, description="the first step the guard counted (from 1)")
    worst_diverged_loss: float | None = Field(default=None, description="the worst finite loss of those steps")
    retries: int = Field(default=0, description="calmer reruns before this run (FullTrain's `retries`)")
    retried_for: list[str] = Field(
        default_factory=list, description="why each earlier try was rerun: 'diverged' or 'learned nothing'"
    )

    @property
    def divergence(self) -> DivergenceReport:
        """The divergence guard's report of this run (count, first step, worst loss)."""
        return DivergenceReport(
            count=self.diverged_steps, first_step=self.first_diverged_step, worst_loss=self.worst_diverged_loss
        )


class Score(BaseModel):
    """One evaluation of one genotype. Lower `value` is better; it is what searches minimise and studies rank
    by: the log loss (mean over seeds) for evaluators that predict, the evaluator's own figure otherwise
    (`objective`, e.g. minus the parameter count for the trivial `params` proxy, which predicts nothing)."""

    model_config = ConfigDict(extra="forbid", **_NAN_AS_STRING)

    log_loss: float | None
    auc: float | None
    examples: int = Field(description="rows the score was measured on")
    flops: int | None = Field(default=None, description="multiply-adds per example")
    params: int | None = Field(default=None, description="dense parameters")
    seconds: float = Field(description="wall time of this evaluation")
    evaluator: str
    config: dict[str, Any] = Field(default_factory=dict)
    objective: float | None = Field(default=None, description="what is minimised when not the log loss")
    log_loss_std: float | None = Field(default=None, description="spread (sample std) of log loss over seeds")
    expected_log_loss: float | None = Field(
        default=None, description="oracle data: cross-entropy against the true click probabilities"
    )
    regret: float | None = Field(default=None, description="oracle data: expected_log_loss minus the Bayes rate")
    runs: list[SeedRun] = Field(default_factory=list, description="per-seed runs of evaluators that train")

    @property
    def value(self) -> float:
        """The figure to minimise (lower is better)."""
        if self.objective is not None:
            return self.objective
        if self.log_loss is None:
            raise ValueError(f"a score of evaluator {self.evaluator!r} has neither a log loss nor an objective")
        return self.log_loss


@runtime_checkable
class Evaluator(Protocol):
    """Scores genotypes. Built from a JSON-able config (`name`, `config`), so another process can rebuild
    it from the config plus genotype JSON; `Config` is the pydantic model that checks that config."""

    Config: ClassVar[type[BaseModel]]
    name: str

    @property
    def config(self) -> dict[str, Any]: ...

    def evaluate(self, genotypes: Sequence[Genotype]) -> list[Score]: ...


def genotype_list(genotypes: Sequence[Genotype]) -> list[Genotype]:
    """`genotypes` as a list, or a `TypeError` for one genotype passed bare (a pydantic model iterates as its
    fields: the evaluator would fail later on a tuple) or for anything that is not genotypes."""
    if isinstance(genotypes, Genotype):
        raise TypeError("evaluate takes a list of genotypes, got one Genotype: pass [genotype]")
    out = list(genotypes)
    if wrong := next((g for g in out if not isinstance(g, Genotype)), None):
        raise TypeError(f"evaluate takes a list of genotypes, got a list holding {type(wrong).__name__}")
    return out


EvaluatorFactory = Callable[..., Evaluator]
EVALUATORS: Registry[EvaluatorFactory] = Registry("evaluator", "nasrec.evaluators")
register_evaluator = EVALUATORS.register


def evaluator_config(name: str) -> type[BaseModel]:
    """The config model (`Config`) of the evaluator registered as `name`."""
    model = getattr(EVALUATORS.get(name), "Config", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise UsageError(f"evaluator {name!r} declares no Config model (a pydantic model of its settings)")
    return model


def reads_supernet(name: str) -> bool:
    """Whether the evaluator registered as `name` scores against a supernet (its config has one; `params`,
    `flops` and `full` do not)."""
    return "supernet" in evaluator_config(name).model_fields


def build_evaluator(name: str, config: dict[str, Any]) -> Evaluator:
    """Rebuild an evaluator from its registered name (or a `module:Class` path) and its JSON config."""
    if name not in EVALUATORS and ":" in name:
        module, _, attr = name.partition(":")
        return getattr(importlib.import_module(module), attr)(**config)
    return EVALUATORS.get(name)(**config)


def derive_seed(seed: int, digest: str) -> int:
    """The seed an evaluator uses for one genotype: independent of evaluation order and process."""
    return (seed * 1_000_003 + int(digest[:8], 16)) % 2**31
