"""The evaluator protocol and `Score`: what every evaluator returns for a genotype."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from nasrec.errors import UsageError
from nasrec.genotype import Genotype
from nasrec.registry import Registry


class Score(BaseModel):
    """One evaluation of one genotype. Lower `log_loss` is better; it is the score searches minimise."""

    model_config = ConfigDict(extra="forbid")

    log_loss: float
    auc: float
    examples: int = Field(description="rows the score was measured on")
    flops: int | None = Field(default=None, description="multiply-adds per example")
    params: int | None = Field(default=None, description="dense parameters")
    seconds: float = Field(description="wall time of this evaluation")
    evaluator: str
    config: dict[str, Any] = Field(default_factory=dict)


@runtime_checkable
class Evaluator(Protocol):
    """Scores genotypes. Built from a JSON-able config (`name`, `config`), so another process can rebuild
    it from the config plus genotype JSON; `Config` is the pydantic model that checks that config."""

    Config: ClassVar[type[BaseModel]]
    name: str

    @property
    def config(self) -> dict[str, Any]: ...

    def evaluate(self, genotypes: Sequence[Genotype]) -> list[Score]: ...


EvaluatorFactory = Callable[..., Evaluator]
EVALUATORS: Registry[EvaluatorFactory] = Registry("evaluator", "nasrec.evaluators")
register_evaluator = EVALUATORS.register


def evaluator_config(name: str) -> type[BaseModel]:
    """The config model (`Config`) of the evaluator registered as `name`."""
    model = getattr(EVALUATORS.get(name), "Config", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise UsageError(f"evaluator {name!r} declares no Config model (a pydantic model of its settings)")
    return model


def build_evaluator(name: str, config: dict[str, Any]) -> Evaluator:
    """Rebuild an evaluator from its registered name (or a `module:Class` path) and its JSON config."""
    if name not in EVALUATORS and ":" in name:
        module, _, attr = name.partition(":")
        return getattr(importlib.import_module(module), attr)(**config)
    return EVALUATORS.get(name)(**config)


def derive_seed(seed: int, digest: str) -> int:
    """The seed an evaluator uses for one genotype: independent of evaluation order and process."""
    return (seed * 1_000_003 + int(digest[:8], 16)) % 2**31
