"""A deterministic, instant evaluator for testing search machinery (importable by worker processes)."""

from __future__ import annotations

import math
import time

from nasrec.evaluators.base import Score
from nasrec.genotype import Genotype


class FormulaEvaluator:
    """Scores a genotype by a fixed smooth formula of its choices (lower is better), optionally sleeping."""

    name = "tests.search.formula:FormulaEvaluator"

    def __init__(self, sleep: float = 0.0, fail_digits: str = "") -> None:
        self.sleep, self.fail_digits = sleep, fail_digits

    @property
    def config(self) -> dict:
        return {"sleep": self.sleep, "fail_digits": self.fail_digits}

    def evaluate(self, genotypes: list[Genotype]) -> list[Score]:
        out = []
        for g in genotypes:
            if self.sleep:
                time.sleep(self.sleep)
            if g.digest()[-1] in self.fail_digits:
                raise RuntimeError(f"planned failure for {g.digest()}")
            loss = 0.44 + sum(
                0.002 * abs(math.log2(b.dense.dim) - 8)
                + 0.001 * abs(b.sparse.dim - 32) / 16
                + 0.003 * ("gating" in b.dense.ops)
                for b in g.blocks
            )
            out.append(
                Score(log_loss=loss, auc=1 - loss, examples=1, seconds=0.0, evaluator=self.name, config=self.config)
            )
        return out
