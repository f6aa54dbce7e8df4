"""Serving budgets as search constraints: at most so many FLOPs (multiply-adds per example) and dense
parameters, counted by `cost()` for the run's features, applied before evaluation (a proposal over budget
is never scored and never trained; the strategy's `Proposer` counts the rejections)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from nasrec.data.spec import FeatureSpec
from nasrec.evaluators.scoring import flops_and_params
from nasrec.genotype import Genotype
from nasrec.search.base import Constraint


class Limits(BaseModel):
    """Budgets a candidate must fit; None: no limit. The counts are the final model's: the standalone model for
    the run's features, with LayerNorm as the run's final models have it (`layernorm_final`), as the final
    stage's scores carry them. A proxy's score counts the subnet as its supernet builds it (its `layernorm`,
    `norm_raw_fm`) and the top-k stage's with LayerNorm: they may differ by the LayerNorms' few parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_flops: int | None = Field(default=None, gt=0, description="most multiply-adds per example")
    max_params: int | None = Field(default=None, gt=0, description="most dense parameters")

    @property
    def active(self) -> bool:
        return self.max_flops is not None or self.max_params is not None

    def __str__(self) -> str:
        parts = [f"{name} {limit:,}" for name, limit in self._limits() if limit is not None]
        return ", ".join(parts) or "none"

    def _limits(self) -> list[tuple[str, int | None]]:
        return [("FLOPs", self.max_flops), ("dense params", self.max_params)]

    def violation(self, flops: int, params: int) -> str | None:
        """Why counts `flops` and `params` are over budget, or None."""
        for (name, limit), value in zip(self._limits(), (flops, params), strict=True):
            if limit is not None and value > limit:
                return f"{name} {value:,} over the budget of {limit:,}"
        return None

    def constraints(self, features: FeatureSpec, layernorm: bool = True) -> list[Constraint]:
        """The constraint that rejects genotypes over these budgets for `features` ([] without limits), counted
        on the model as the final one is built (with or without its LayerNorms)."""
        if not self.active:
            return []

        def within(g: Genotype) -> str | None:
            return self.violation(*flops_and_params(g, features, layernorm))

        return [within]
