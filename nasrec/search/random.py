"""Random search: independent samples from the space (the baseline every search must beat)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from nasrec.genotype import Genotype, SearchSpace, sample
from nasrec.search.base import Constraint, Proposer, Told, check_told, register_strategy
from nasrec.search.evolution import DEFAULT_SAMPLER, check_sampler


class RandomOptions(BaseModel):
    """Random search's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    budget: int = Field(default=2048, ge=1, description="genotypes sampled and evaluated")
    sampler: str = Field(default=DEFAULT_SAMPLER, description="path sampler")

    _sampler = field_validator("sampler")(check_sampler)


@register_strategy("random")
class RandomSearch:
    Options = RandomOptions
    GROWABLE = ("budget",)
    multi_objective = True  # it ignores scores: as good for several objectives as for one

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        constraints: list[Constraint] | None = None,
        objectives: tuple[str, ...] = ("logloss",),
        **options: Any,
    ) -> None:
        """`options`: see `RandomOptions` (checked)."""
        o = RandomOptions(**options)
        self.space, self.budget, self.sampler = space, o.budget, o.sampler
        self.rng = np.random.default_rng(seed)
        self.proposer = Proposer(space, constraints)
        self.asked = 0
        self.outstanding: set[str] = set()  # digests asked and not yet told
        self.told: list[tuple[str, Told]] = []

    def ask(self, n: int = 1) -> list[Genotype]:
        n = min(n, self.budget - self.asked)
        out = [self.proposer.propose(lambda: sample(self.space, self.sampler, self.rng)) for _ in range(max(0, n))]
        self.asked += len(out)
        self.outstanding.update(g.digest() for g in out)
        return out

    def tell(self, genotype: Genotype, score: Told) -> None:
        score = check_told(score)
        digest = genotype.digest()
        if digest not in self.outstanding:
            raise ValueError(f"genotype {digest} was not asked (or was already told)")
        self.outstanding.remove(digest)
        self.told.append((digest, score))

    @property
    def done(self) -> bool:
        return len(self.told) >= self.budget
