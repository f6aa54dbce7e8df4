"""Trivial proxies: a genotype's size as its score, with no training — the baselines every ranking study
reports (in published NAS benchmarks the parameter count alone often ranks as well as a supernet).

The score to minimise is minus the size (`Score.objective`): larger models rank as better. They predict
nothing, so `log_loss` and `auc` are None.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nasrec.evaluators.base import Score, genotype_list, register_evaluator
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.scoring import flops_and_params
from nasrec.genotype import Genotype


class SizeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str = Field(description="`sample:criteo` or a prepared data folder (its feature shape)")


class _Size:
    name = ""
    Config = SizeConfig

    def __init__(self, **config: Any) -> None:
        self.cfg = SizeConfig(**config)
        self.spec = open_data(self.cfg.data).spec

    @property
    def config(self) -> dict[str, Any]:
        return self.cfg.model_dump()

    def evaluate(self, genotypes: Sequence[Genotype]) -> list[Score]:
        out = []
        for g in genotype_list(genotypes):
            start = time.perf_counter()
            flops, params = flops_and_params(g, self.spec)
            size = params if self.name == "params" else flops
            out.append(
                Score(
                    log_loss=None,
                    auc=None,
                    examples=0,
                    flops=flops,
                    params=params,
                    objective=-float(size),
                    seconds=time.perf_counter() - start,
                    evaluator=self.name,
                    config=self.config,
                )
            )
        return out


@register_evaluator("params")
class ParamsProxy(_Size):
    """Dense parameters of the standalone model: more ranks better."""

    name = "params"


@register_evaluator("flops")
class FlopsProxy(_Size):
    """FLOPs per example of the standalone model (`Cost.flops`: the multiply-adds of its matrix products and
    attention core, and its element-wise products, sums and differences; nasrec/compiler/cost.py): more ranks
    better."""

    name = "flops"
