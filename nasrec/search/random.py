"""Random search: independent samples from the space (the baseline every search must beat)."""

from __future__ import annotations

import numpy as np

from nasrec.genotype import Genotype, SearchSpace, sample
from nasrec.search.base import Constraint, Proposer, register_strategy


@register_strategy("random")
class RandomSearch:
    def __init__(self, space: SearchSpace, seed: int = 0, budget: int = 2048,
                 sampler: str = "single-operator-any-connection", constraints: list[Constraint] | None = None) -> None:
        self.space, self.budget, self.sampler = space, budget, sampler
        self.rng = np.random.default_rng(seed)
        self.proposer = Proposer(space, constraints)
        self.asked = 0
        self.told: list[tuple[str, float | None]] = []

    def ask(self, n: int = 1) -> list[Genotype]:
        n = min(n, self.budget - self.asked)
        out = [self.proposer.propose(lambda: sample(self.space, self.sampler, self.rng)) for _ in range(max(0, n))]
        self.asked += len(out)
        return out

    def tell(self, genotype: Genotype, score: float | None) -> None:
        self.told.append((genotype.digest(), score))

    @property
    def done(self) -> bool:
        return len(self.told) >= self.budget
