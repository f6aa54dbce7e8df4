"""A deterministic, instant evaluator for testing search machinery (importable by worker processes)."""

from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path

from nasrec.evaluators.base import Score
from nasrec.genotype import Genotype


class FormulaEvaluator:
    """Scores a genotype by a fixed smooth formula of its choices (lower is better), optionally sleeping."""

    name = "tests.search.formula:FormulaEvaluator"

    def __init__(
        self,
        sleep: float = 0.0,
        fail_digits: str = "",
        kill_file: str = "",
        kill_once: bool = True,
        nan_digits: str = "",
    ) -> None:
        """`kill_file`: while that file exists, an evaluation SIGKILLs its own process (the system killing a
        worker), removing the file first when `kill_once`. `nan_digits`: digests ending so score NaN."""
        self.sleep, self.fail_digits, self.kill_file, self.kill_once = sleep, fail_digits, kill_file, kill_once
        self.nan_digits = nan_digits

    @property
    def config(self) -> dict:
        return {
            "sleep": self.sleep,
            "fail_digits": self.fail_digits,
            "kill_file": self.kill_file,
            "kill_once": self.kill_once,
            "nan_digits": self.nan_digits,
        }

    def evaluate(self, genotypes: list[Genotype]) -> list[Score]:
        out = []
        for g in genotypes:
            if self.sleep:
                time.sleep(self.sleep)
            if self.kill_file and Path(self.kill_file).exists():
                if self.kill_once:
                    Path(self.kill_file).unlink(missing_ok=True)
                os.kill(os.getpid(), signal.SIGKILL)
            if g.digest()[-1] in self.fail_digits:
                raise RuntimeError(f"planned failure for {g.digest()}")
            loss = 0.44 + sum(
                0.002 * abs(math.log2(b.dense.dim) - 8)
                + 0.001 * abs(b.sparse.dim - 32) / 16
                + 0.003 * ("gating" in b.dense.ops)
                for b in g.blocks
            )
            if g.digest()[-1] in self.nan_digits:
                loss = float("nan")  # e.g. a subnet whose logits diverged
            out.append(
                Score(log_loss=loss, auc=1 - loss, examples=1, seconds=0.0, evaluator=self.name, config=self.config)
            )
        return out
