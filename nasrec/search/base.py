"""The strategy protocol (ask/tell), its registry and the `nasrec.strategies` entry points.

A strategy proposes genotypes with `ask(n)` and learns their scores with `tell(genotype, score)`, and
declares its settings as a pydantic model, `Options` (checked before a run starts). Scores
are losses (lower is better); `None` marks a failed evaluation. Strategies apply results in the order they
asked, whatever order evaluations finish in, so a search is reproducible from its seed and its log: the
runner resumes a search by replaying its log into a fresh strategy, so strategies save no state.

With several objectives (`build_strategy(..., objectives=("logloss", "flops"))`, for strategies whose
`multi_objective` is true) a score is a tuple, one value per objective, all minimised. A strategy whose
budget may grow when a finished run is rerun with a larger one names those options in `GROWABLE`: the
extended run must equal one long run with the same seed (nothing else may depend on them).

A strategy built on a space file gets the space named by the file's path as given (`space_as_given`), so
the genotypes it draws with `sample` and `mutate` name the file, and later commands find the space.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from nasrec.errors import UsageError
from nasrec.evaluators.base import Score
from nasrec.genotype import PRESETS, Genotype, SearchSpace, get_space
from nasrec.registry import Registry
from nasrec.search.objectives import check_objectives

Constraint = Callable[[Genotype], str | None]
"""Returns why a genotype is rejected before evaluation (e.g. too many FLOPs), or None to accept it."""
Told = float | tuple[float, ...] | None
"""What a strategy is told: a loss, one loss per objective, or None for a failed evaluation."""


def check_told(score: object) -> Told:
    """`score` if it is what a strategy is told (`Told`), else a `TypeError` naming what came instead (a `Score`
    object: its `.value`); a strategy checks before it stores anything, so a wrong call leaves it as it was."""
    numbers = score if isinstance(score, tuple) else (score,)
    if score is None or (numbers and all(isinstance(x, Real) and not isinstance(x, bool) for x in numbers)):
        return score  # type: ignore[return-value]
    hint = "; tell it the Score's .value" if isinstance(score, Score) else ""
    raise TypeError(
        f"a strategy is told a loss (a number), one loss per objective (a tuple of numbers) or None for a failed "
        f"evaluation, got {type(score).__name__}{hint}"
    )


ENTRY_POINT_GROUP = "nasrec.strategies"
_MAX_TRIES = 200


@runtime_checkable
class Strategy(Protocol):
    Options: ClassVar[type[BaseModel]]
    space: SearchSpace

    def ask(self, n: int = 1) -> list[Genotype]:
        """Up to n new candidates; [] when waiting for results or finished. (The built-in strategies hand a round
        out n at a time; the runner also queues the rest of a whole round returned at once, as the hill climber
        of docs/tutorials/custom-strategy.md does.)"""

    def tell(self, genotype: Genotype, score: Told) -> None: ...

    @property
    def done(self) -> bool: ...


StrategyFactory = Callable[..., Strategy]
STRATEGIES: Registry[StrategyFactory] = Registry("search strategy", ENTRY_POINT_GROUP)
register_strategy = STRATEGIES.register


def list_strategies() -> list[str]:
    return sorted(STRATEGIES.names())


def strategy_options(name: str) -> type[BaseModel]:
    """The typed options (`Options`) of the strategy registered as `name`."""
    options = getattr(STRATEGIES.get(name), "Options", None)
    if not (isinstance(options, type) and issubclass(options, BaseModel)):
        raise UsageError(f"search strategy {name!r} declares no Options model (a pydantic model of its settings)")
    return options


def growable_options(name: str, options: dict[str, Any] | None = None) -> tuple[str, ...]:
    """The options of strategy `name` that a rerun of a finished run may raise to extend it: its `GROWABLE`,
    narrowed by its `growable(options)` where the run's options decide (e.g. a schedule spanning the budget)."""
    factory = STRATEGIES.get(name)
    growable = tuple(getattr(factory, "GROWABLE", ()))
    narrow = getattr(factory, "growable", None)
    return tuple(narrow(options or {})) if callable(narrow) else growable


def check_multi_objective(name: str, objectives: tuple[str, ...]) -> None:
    """A `UsageError` when several objectives are asked of a strategy that handles one."""
    if len(objectives) > 1 and not getattr(STRATEGIES.get(name), "multi_objective", False):
        raise UsageError(f"search strategy {name} optimises one objective; got {','.join(objectives)}")


def space_as_given(space: SearchSpace | str) -> SearchSpace:
    """`space` loaded (`get_space`); a space file's space is named by the path as given, not the name inside
    it, so what `sample` and `mutate` draw from it names the file, as `sample(path)` does."""
    loaded = get_space(space)
    if isinstance(space, str) and space not in PRESETS:
        return loaded.model_copy(update={"name": space})
    return loaded


def build_strategy(
    name: str,
    space: SearchSpace | str,
    seed: int = 0,
    constraints: list[Constraint] | None = None,
    objectives: tuple[str, ...] = ("logloss",),
    **options: Any,
) -> Strategy:
    """The strategy registered as `name` on `space` (a space, a preset's name or a space file: see
    `space_as_given`); `options` are checked by its `Options` first (a bad one raises pydantic's
    ValidationError naming it). `objectives` are checked (`check_objectives`); with several the strategy is
    told tuples."""
    objectives = check_objectives(objectives)
    settings = dict(strategy_options(name).model_validate(options))
    if constraints:
        settings["constraints"] = constraints
    check_multi_objective(name, objectives)
    if len(objectives) > 1:
        settings["objectives"] = tuple(objectives)
    return STRATEGIES.get(name)(space=space_as_given(space), seed=seed, **settings)


class NoNewGenotype(UsageError):
    """A strategy found no new genotype of its space within its budgets (`Proposer.exhausted`)."""


class Proposer:
    """Shared middleware of strategies: de-duplication and constraints, before evaluation.

    Duplicates are judged by `active_digest`: a genotype that differs from an earlier one only in parts
    that do not reach the head (blocks, operators, mergers) computes the same function, so it is not
    proposed again."""

    def __init__(self, space: SearchSpace, constraints: list[Constraint] | None = None) -> None:
        self.space = space
        self.constraints = list(constraints or [])
        self.seen: set[str] = set()
        self.rejections: dict[str, str] = {}  # digest -> why a constraint rejected it (each genotype once)
        self.duplicates = self.over_budget = 0  # screened since the last accepted genotype
        self.last_reason: str | None = None

    @property
    def rejected(self) -> int:
        """Distinct genotypes a constraint rejected (never scored, never trained)."""
        return len(self.rejections)

    def screen(self, g: Genotype) -> str | None:
        """Why `g` cannot be proposed ("duplicate", or a constraint's reason, counted), or None. Checks `g`
        against the space (a `GenotypeError` when it is not in it) but does not mark it as seen."""
        self.space.check(g)
        if g.active_digest() in self.seen:
            self.duplicates += 1
            return "duplicate"
        digest = g.digest()
        reason = self.rejections.get(digest) or next((r for r in (c(g) for c in self.constraints) if r), None)
        if reason:
            self.rejections[digest] = self.last_reason = reason
            self.over_budget += 1
        return reason

    def accept(self, g: Genotype) -> Genotype:
        """Mark `g` as proposed: it will not be proposed again."""
        self.seen.add(g.active_digest())
        self.duplicates = self.over_budget = 0
        return g

    def propose(self, make: Callable[[], Genotype]) -> Genotype:
        """Call `make` until it gives an unseen genotype of the space that passes every constraint."""
        for _ in range(_MAX_TRIES):
            g = make()
            if self.screen(g) is None:
                return self.accept(g)
        raise self.exhausted()

    def exhausted(self) -> NoNewGenotype:
        """The error of a strategy that found no new genotype: what its tries since the last one were."""
        last = f" (the last: {self.last_reason})" if self.over_budget else ""
        fix = (
            "the space has few new genotypes left for this budget: lower the budget or enlarge the space"
            if self.duplicates >= self.over_budget
            else "loosen the budgets (--max-flops, --max-params) or enlarge the space"
        )
        return NoNewGenotype(
            f"no acceptable new genotype in {self.duplicates + self.over_budget} tries: {self.duplicates} already "
            f"proposed, {self.over_budget} over the budgets{last}; {fix}"
        )
