"""Regularized (aging) evolution, Real et al. 2019, with the NASRec paper's settings as defaults.

An initial population of `population` random subnets; then `cycles` cycles: pick `tournament` members
at random, take the best as parent, make `children` mutants of it, score them, add each to the
population and remove the oldest member for each. A mutant is one mutation of its parent (the paper's);
`mutations > 1` applies that many in the first cycle, falling linearly to one by the last (wider steps
early; the schedule spans the cycles, so such a run cannot be extended to more cycles: the pipeline refuses).
Started from a sampler of several operators per branch (`-O sampler=any-path`), an operator mutation may
give a branch any other non-empty set of operators (else one-operator branches would never grow again).
Results are applied in ask order, so the run is reproducible whatever order evaluations finish in.

With several objectives (e.g. log loss and FLOPs) the tournament picks its parent by NSGA-II's crowded
comparison among the drawn members (lowest Pareto rank, then the largest crowding distance) instead of the
lowest loss; aging is unchanged, so the population stays the most recent members.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from nasrec.genotype import Genotype, SearchSpace, mutate, sample
from nasrec.genotype.sampling import DEFAULT_SAMPLER, MULTI_OPERATOR_SAMPLERS, SAMPLERS
from nasrec.search.base import Constraint, Proposer, Told, check_told, register_strategy
from nasrec.search.objectives import selection_order


def check_sampler(name: str) -> str:
    """`name` if it is a registered path sampler (else the registry's error, listing the known ones)."""
    SAMPLERS.get(name)
    return name


class EvolutionOptions(BaseModel):
    """Regularized evolution's settings; the defaults are the NASRec paper's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    population: int = Field(default=128, ge=1, description="members of the population")
    cycles: int = Field(default=240, ge=0, description="cycles after the initial population")
    tournament: int = Field(default=64, ge=1, description="members drawn to pick each cycle's parent")
    children: int = Field(default=8, ge=1, description="mutants of the parent per cycle")
    sampler: str = Field(default=DEFAULT_SAMPLER, description="path sampler of the initial population")
    mutations: int = Field(
        default=1, ge=1, description="mutations per child in the first cycle, falling linearly to 1 by the last"
    )
    grow_ops: bool = Field(
        default=True,
        description="with a sampler of several operators per branch (any-path, all-operators): an operator "
        "mutation may give a one-operator branch several again (False: one, as before commit d11edd5)",
    )

    _sampler = field_validator("sampler")(check_sampler)

    @field_validator("tournament")
    @classmethod
    def _tournament_fits(cls, tournament: int, info: ValidationInfo) -> int:
        population = info.data.get("population")  # absent when it was rejected itself
        if population is not None and tournament > population:
            raise ValueError(f"tournament ({tournament}) cannot exceed population ({population})")
        return tournament


@register_strategy("evolution")
class RegularizedEvolution:
    Options: type[EvolutionOptions] = EvolutionOptions
    GROWABLE = ("cycles",)
    multi_objective = True

    @classmethod
    def growable(cls, options: dict[str, Any]) -> tuple[str, ...]:
        """`cycles`, unless `mutations > 1`: that schedule spans the cycles, so a longer run would not extend
        the shorter one."""
        return () if options.get("mutations", 1) > 1 else cls.GROWABLE

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        constraints: list[Constraint] | None = None,
        objectives: tuple[str, ...] = ("logloss",),
        **options: Any,
    ) -> None:
        """`options`: see `EvolutionOptions` (checked; the paper's settings by default)."""
        o = self.Options(**options)
        self.options, self.objectives = o, tuple(objectives)
        self.space, self.population_size, self.cycles = space, o.population, o.cycles
        self.tournament, self.children, self.sampler = o.tournament, o.children, o.sampler
        self.multi_op = o.grow_ops and o.sampler in MULTI_OPERATOR_SAMPLERS  # several operators stay reachable
        self.rng = np.random.default_rng(seed)
        self.proposer = Proposer(space, constraints)
        self.population: deque[tuple[dict[str, Any], Any]] = deque()  # (genotype dict, score), oldest first
        self.pending: list[tuple[Genotype, Told, bool]] = []  # asked this round: (g, score, told?)
        self.queued: list[Genotype] = []  # this round's children not yet handed out (ask returns at most n)
        self.cycle = 0  # completed cycles
        self.pending_cycle = False  # whether `pending` are a cycle's children (else initial members)
        self.initialised = 0  # initial members asked
        self.history: list[tuple[str, Told]] = []

    @property
    def budget(self) -> int:
        return self.population_size + self.cycles * self.children

    # -- ask / tell ------------------------------------------------------------------------------
    def ask(self, n: int = 1) -> list[Genotype]:
        out: list[Genotype] = []
        if self.initialised < self.population_size:
            while len(out) < n and self.initialised < self.population_size:
                out.append(self.proposer.propose(lambda: sample(self.space, self.sampler, self.rng)))
                self.initialised += 1
        else:
            if not self.queued and not self.pending and self.cycle < self.cycles and self.population:
                self.queued = self.make_children(self._tournament())  # the whole cycle, made at once
                self.pending_cycle = True
            out, self.queued = self.queued[: max(n, 0)], self.queued[max(n, 0) :]
        self.pending.extend((g, None, False) for g in out)
        return out

    def make_children(self, parent: Genotype) -> list[Genotype]:
        """A cycle's children: `children` new mutants of `parent`."""
        return [self.proposer.propose(lambda: self.mutant(parent)) for _ in range(self.children)]

    def mutation_count(self) -> int:
        """Mutations per child this cycle: `mutations` in the first, falling linearly to 1 in the last."""
        m = self.options.mutations
        if m == 1 or self.cycles <= 1:
            return m
        return round(m - (m - 1) * self.cycle / (self.cycles - 1))

    def mutant(self, parent: Genotype) -> Genotype:
        """`parent` mutated `mutation_count()` times in a row (one mutation: the paper's child); the child's
        lineage names `parent` and every mutation applied."""
        k = self.mutation_count()
        child = mutate(parent, self.rng, self.space, multi_op=self.multi_op)
        if k == 1:
            return child
        kinds = [child.meta["mutation"]]
        for _ in range(k - 1):
            child = mutate(child, self.rng, self.space, multi_op=self.multi_op)
            kinds.append(child.meta["mutation"])
        return child.with_meta(parent=parent.digest(), mutation="+".join(kinds), mutated_block=None)

    def tell(self, genotype: Genotype, score: Told) -> None:
        score = check_told(score)
        digest = genotype.digest()
        for i, (g, _, told) in enumerate(self.pending):
            if not told and g.digest() == digest:
                self.pending[i] = (g, score, True)
                break
        else:
            raise ValueError(f"genotype {digest} was not asked (or was already told)")
        if not self.queued and all(told for _, _, told in self.pending):
            self._commit()

    def _commit(self) -> None:
        """Apply the round's results in ask order; the oldest members leave as children join (aging)."""
        for g, score, _ in self.pending:
            self.history.append((g.digest(), score))
            if score is None or not np.all(np.isfinite(score)):
                continue  # failed evaluations never join the population
            value = tuple(map(float, score)) if isinstance(score, tuple) else float(score)
            self.population.append((g.to_dict(), value))
            while len(self.population) > self.population_size:
                self.population.popleft()
        if self.pending_cycle:
            self.cycle += 1
        self.pending, self.pending_cycle = [], False

    def _tournament(self) -> Genotype:
        k = min(self.tournament, len(self.population))
        idx = self.rng.choice(len(self.population), size=k, replace=False)
        drawn = [self.population[int(i)] for i in idx]
        if len(self.objectives) > 1:
            best = drawn[selection_order([score for _, score in drawn])[0]]
        else:
            best = min(drawn, key=lambda member: member[1])
        return Genotype.from_dict(best[0])

    @property
    def done(self) -> bool:
        return (
            self.cycle >= self.cycles
            and not self.pending
            and not self.queued
            and self.initialised >= self.population_size
        )

    def best(self) -> tuple[Genotype, Any]:
        """The population's member of lowest loss (with several objectives: the first, then the others)."""
        g, score = min(self.population, key=lambda member: member[1])
        return Genotype.from_dict(g), score
