"""Optuna's samplers (TPE, NSGA-II, random) as a search strategy, through Optuna's ask/tell interface.

A plug-in built on a library users know: registered through the package's own `nasrec.strategies` entry
point (pyproject.toml), not imported by `nasrec.search`, and usable only with the `optuna` extra
(`pip install "nasrec[optuna]"`). Each trial chooses a genotype parameter by parameter (define-by-run):
per block its operators, dims and mergers, then only the connections those operators read, one yes/no per
earlier node (none chosen means the previous node; over `max_inputs`, the latest ones). So every asked
genotype is valid (`space.check` passes). Trials are asked in rounds of `batch` and told in ask order when
the round is complete, so a run is reproducible from its seed and log whatever order evaluations finish in.
A duplicate of a genotype already scored is told that score; one rejected by a constraint (or a duplicate
of one in flight) is told as failed, and another trial is asked. After `_RANDOM_AFTER` duplicates in a row the
next trial's parameters are drawn at random (a seeded random-sampler study, enqueued): on small spaces TPE's
model can settle on genotypes already scored and, told their scores again, never leave them.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nasrec.genotype import Genotype, SearchSpace, get_signature
from nasrec.genotype.schema import Block, BranchChoice, Inputs
from nasrec.search.base import Constraint, Proposer, Told, check_told, register_strategy

_MAX_TRIES = 200
_RANDOM_AFTER = 20


class OptunaOptions(BaseModel):
    """The Optuna strategy's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sampler: Literal["tpe", "nsga2", "random"] = Field(default="tpe", description="Optuna's sampler")
    budget: int = Field(default=2048, ge=1, description="genotypes evaluated")
    batch: int = Field(default=8, ge=1, description="trials asked per round (evaluated together)")
    startup_trials: int = Field(default=32, ge=1, description="tpe: random trials before the model is used")
    population: int = Field(default=32, ge=2, description="nsga2: population size")

    @model_validator(mode="after")
    def _optuna_present(self) -> OptunaOptions:
        if importlib.util.find_spec("optuna") is None:
            raise ValueError('strategy optuna needs Optuna: pip install "nasrec[optuna]"')
        return self


def make_sampler(o: OptunaOptions, seed: int) -> Any:
    import optuna

    if o.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=o.startup_trials)
    if o.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=o.population)
    return optuna.samplers.RandomSampler(seed=seed)


def suggest_genotype(trial: Any, space: SearchSpace) -> Genotype:
    """A genotype of `space` from `trial`'s suggestions (only the parameters the choices so far need)."""
    blocks = []
    for k in range(1, space.num_blocks + 1):
        dense_op = trial.suggest_categorical(f"b{k}.dense_op", list(space.dense_ops))
        sparse_op = trial.suggest_categorical(f"b{k}.sparse_op", list(space.sparse_ops))
        dense_dim = trial.suggest_categorical(f"b{k}.dense_dim", list(space.dense_dims))
        sparse_dim = trial.suggest_categorical(f"b{k}.sparse_dim", list(space.sparse_dims))
        mergers = {m: trial.suggest_categorical(f"b{k}.{m}", [False, True]) for m in space.mergers}
        reads = set(get_signature(dense_op).reads) | set(get_signature(sparse_op).reads)
        sources: dict[str, tuple[int, ...]] = {}
        for branch in ("dense", "sparse"):
            if branch not in reads:
                sources[branch] = (0,)
                continue
            chosen = [j for j in range(k) if trial.suggest_categorical(f"b{k}.{branch}_in.{j}", [False, True])]
            sources[branch] = tuple(chosen[-space.max_sources(k) :] or [k - 1])
        pair = (
            (trial.suggest_int(f"b{k}.left", 0, k - 1), trial.suggest_int(f"b{k}.right", 0, k - 1))
            if "pair" in reads
            else (0, 0)
        )
        blocks.append(
            Block(
                dense=BranchChoice(ops=(dense_op,), dim=int(dense_dim)),
                sparse=BranchChoice(ops=(sparse_op,), dim=int(sparse_dim)),
                inputs=Inputs(dense=sources["dense"], sparse=sources["sparse"], left=pair[0], right=pair[1]),
                **mergers,
            )
        )
    return Genotype(space=space.name, blocks=tuple(blocks)).canonical()


@register_strategy("optuna")
class OptunaSearch:
    Options = OptunaOptions
    GROWABLE = ("budget",)
    multi_objective = True
    requires = ("optuna",)

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        constraints: list[Constraint] | None = None,
        objectives: tuple[str, ...] = ("logloss",),
        **options: Any,
    ) -> None:
        """`options`: see `OptunaOptions` (checked)."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.options = o = OptunaOptions(**options)
        self.space, self.budget, self.objectives = space, o.budget, tuple(objectives)
        self.study = optuna.create_study(directions=["minimize"] * len(self.objectives), sampler=make_sampler(o, seed))
        self._random = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed + 1))  # duplicate streaks
        self._fail = optuna.trial.TrialState.FAIL
        self.proposer = Proposer(space, constraints)
        self.pending: list[tuple[Genotype, Any, Told, bool]] = []  # (g, trial, score, told?) in ask order
        self.scores: dict[str, Told] = {}  # active digest -> score told, for duplicates
        self.queued: list[Genotype] = []  # the batch's proposals not yet handed out (ask returns at most n)
        self.asked = 0
        self.told = 0

    def ask(self, n: int = 1) -> list[Genotype]:
        if not self.pending:  # a new batch, handed out n at a time
            out = [self._propose() for _ in range(min(self.options.batch, self.budget - self.asked))]
            self.asked += len(out)
            self.pending = [(g, trial, None, False) for g, trial in out]
            self.queued = [g for g, _ in out]
        handed, self.queued = self.queued[: max(n, 0)], self.queued[max(n, 0) :]
        return handed

    def _propose(self) -> tuple[Genotype, Any]:
        duplicates = 0
        for _ in range(_MAX_TRIES):
            if duplicates >= _RANDOM_AFTER:
                self.study.enqueue_trial(self._random_params())
            trial = self.study.ask()
            g = suggest_genotype(trial, self.space)
            reason = self.proposer.screen(g)
            if reason is None:
                return self.proposer.accept(g), trial
            duplicates = duplicates + 1 if reason == "duplicate" else 0
            known = self.scores.get(g.active_digest())
            if reason == "duplicate" and known is not None:
                self.study.tell(trial, list(known) if isinstance(known, tuple) else known)
            else:
                self.study.tell(trial, state=self._fail)
        raise self.proposer.exhausted()

    def _random_params(self) -> dict[str, Any]:
        """The parameters of a genotype drawn at random, as the main study's trial would suggest them."""
        trial = self._random.ask()
        suggest_genotype(trial, self.space)
        self._random.tell(trial, state=self._fail)
        return dict(trial.params)

    def tell(self, genotype: Genotype, score: Told) -> None:
        score = check_told(score)
        digest = genotype.digest()
        if any(g.digest() == digest for g in self.queued):
            raise ValueError(f"genotype {digest} was not asked (or was already told)")
        for i, (g, trial, _, told) in enumerate(self.pending):
            if not told and g.digest() == digest:
                self.pending[i] = (g, trial, score, True)
                break
        else:
            raise ValueError(f"genotype {digest} was not asked (or was already told)")
        self.told += 1
        if all(told for *_, told in self.pending):
            for g, trial, value, _ in self.pending:  # in ask order
                if value is None or not all(map(math.isfinite, value if isinstance(value, tuple) else (value,))):
                    self.study.tell(trial, state=self._fail)
                else:
                    self.scores[g.active_digest()] = value
                    self.study.tell(trial, list(value) if isinstance(value, tuple) else value)
            self.pending = []

    @property
    def done(self) -> bool:
        return self.told >= self.budget and not self.pending
