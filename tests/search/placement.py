"""Test evaluators for where evaluations run (importable by worker processes): `WhichGpu` scores with the GPU its
process sees; `SetupFails` cannot be built but in the driver (a data path missing on the workers only)."""

from __future__ import annotations

import os
import time

from nasrec.data.errors import DataError
from nasrec.evaluators.base import Score


class WhichGpu:
    """Each score's config holds its process's CUDA_VISIBLE_DEVICES; every evaluation takes `sleep` seconds."""

    name = "tests.search.placement:WhichGpu"

    def __init__(self, sleep: float = 1.0) -> None:
        self.sleep = sleep

    def evaluate(self, genotypes):
        time.sleep(self.sleep)
        gpu = os.environ.get("CUDA_VISIBLE_DEVICES")
        return [
            Score(log_loss=0.5, auc=0.5, examples=1, seconds=0.0, evaluator=self.name, config={"gpu": gpu})
            for _ in genotypes
        ]


class SetupFails:
    """Built in the `driver` process only; elsewhere its data is missing."""

    name = "tests.search.placement:SetupFails"

    def __init__(self, driver: int) -> None:
        if os.getpid() != driver:
            raise DataError("/shared/criteo: no such folder")

    def evaluate(self, genotypes):
        raise AssertionError("never built on a worker")
