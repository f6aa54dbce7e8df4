"""The strategy protocol (ask/tell), its registry and the `nasrec.strategies` entry points.

A strategy proposes genotypes with `ask(n)` and learns their scores with `tell(genotype, score)`, and
declares its settings as a pydantic model, `Options` (checked before a run starts). Scores
are losses (lower is better); `None` marks a failed evaluation. Strategies apply results in the order they
asked, whatever order evaluations finish in, so a search is reproducible from its seed and its log: the
runner resumes a search by replaying its log into a fresh strategy, so strategies save no state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from nasrec.errors import UsageError
from nasrec.genotype import Genotype, SearchSpace
from nasrec.registry import Registry

Constraint = Callable[[Genotype], str | None]
"""Returns why a genotype is rejected before evaluation (e.g. too many FLOPs), or None to accept it."""

ENTRY_POINT_GROUP = "nasrec.strategies"
_MAX_TRIES = 200


@runtime_checkable
class Strategy(Protocol):
    Options: ClassVar[type[BaseModel]]
    space: SearchSpace

    def ask(self, n: int = 1) -> list[Genotype]:
        """Up to n new candidates; [] when waiting for results or finished."""

    def tell(self, genotype: Genotype, score: float | None) -> None: ...

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


def build_strategy(
    name: str, space: SearchSpace, seed: int = 0, constraints: list[Constraint] | None = None, **options: Any
) -> Strategy:
    """The strategy registered as `name` on `space`; `options` are checked by its `Options` first (a bad
    one raises pydantic's ValidationError naming it)."""
    settings = dict(strategy_options(name).model_validate(options))
    if constraints:
        settings["constraints"] = constraints
    return STRATEGIES.get(name)(space=space, seed=seed, **settings)


class Proposer:
    """Shared middleware of strategies: de-duplication and constraints, before evaluation.

    Duplicates are judged by `active_digest`: a genotype that differs from an earlier one only in parts
    that do not reach the head (blocks, operators, mergers) computes the same function, so it is not
    proposed again."""

    def __init__(self, space: SearchSpace, constraints: list[Constraint] | None = None) -> None:
        self.space = space
        self.constraints = list(constraints or [])
        self.seen: set[str] = set()
        self.rejected = 0

    def propose(self, make: Callable[[], Genotype]) -> Genotype:
        """Call `make` until it gives an unseen genotype of the space that passes every constraint."""
        last_reason = "all duplicates"
        for _ in range(_MAX_TRIES):
            g = self.space.check(make())
            digest = g.active_digest()
            if digest in self.seen:
                continue
            reason = next((r for r in (c(g) for c in self.constraints) if r), None)
            if reason:
                self.rejected += 1
                last_reason = reason
                continue
            self.seen.add(digest)
            return g
        raise UsageError(
            f"no acceptable new genotype in {_MAX_TRIES} tries (last rejection: {last_reason}); "
            "loosen the constraints or enlarge the space"
        )
