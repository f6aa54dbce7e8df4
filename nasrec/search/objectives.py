"""What a search minimises: one objective (`logloss`, the evaluator's score) or several (`logloss,flops`), and
the Pareto machinery for several: non-dominated sorting and NSGA-II's crowding distance.

All objectives are minimised. `logloss` is `Score.value` (the log loss for evaluators that predict, the
evaluator's own figure otherwise); `flops` (multiply-adds per example) and `params` (dense parameters) are
the exact counts every score carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from nasrec.errors import UsageError
from nasrec.evaluators.base import Score

Objective = Literal["logloss", "flops", "params"]
OBJECTIVES: tuple[Objective, ...] = ("logloss", "flops", "params")
Point = Sequence[float]


def parse_objectives(text: str) -> tuple[str, ...]:
    """`"logloss,flops"` -> `("logloss", "flops")` (checked by `check_objectives`)."""
    return check_objectives(tuple(part.strip() for part in text.split(",") if part.strip()))


def check_objectives(objectives: Sequence[str]) -> tuple[str, ...]:
    """The objectives, if they are known, distinct and start with `logloss` (else a `UsageError`)."""
    objectives = tuple(objectives)
    unknown = [o for o in objectives if o not in OBJECTIVES]
    if unknown:
        raise UsageError(f"unknown objective {unknown[0]!r} (known: {', '.join(OBJECTIVES)})")
    if not objectives or objectives[0] != "logloss" or len(set(objectives)) != len(objectives):
        raise UsageError(
            f"objectives must be logloss, then any of flops, params, each once; got {','.join(objectives)}"
        )
    return objectives


def objective_values(score: Score, objectives: Sequence[str]) -> tuple[float, ...]:
    """`score` as one value per objective."""
    out = []
    for name in objectives:
        value = score.value if name == "logloss" else getattr(score, name)
        if value is None:
            raise ValueError(f"a score of evaluator {score.evaluator!r} has no {name} count")
        out.append(float(value))
    return tuple(out)


def dominates(a: Point, b: Point) -> bool:
    """Whether `a` is at least as good as `b` in every objective and better in one (all minimised)."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def pareto_ranks(points: Sequence[Point]) -> list[int]:
    """Non-dominated sorting (Deb et al. 2002): rank 0 for the Pareto front, 1 for the front of the rest, ..."""
    n = len(points)
    beaten_by = [0] * n  # how many points dominate i
    beats: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(points[i], points[j]):
                beats[i].append(j)
                beaten_by[j] += 1
            elif dominates(points[j], points[i]):
                beats[j].append(i)
                beaten_by[i] += 1
    ranks = [0] * n
    front = [i for i in range(n) if beaten_by[i] == 0]
    rank = 0
    while front:
        nxt = []
        for i in front:
            ranks[i] = rank
            for j in beats[i]:
                beaten_by[j] -= 1
                if beaten_by[j] == 0:
                    nxt.append(j)
        front, rank = nxt, rank + 1
    return ranks


def pareto_front(points: Sequence[Point]) -> list[int]:
    """Indices of the non-dominated points, in input order (equal points are all kept)."""
    return [i for i, r in enumerate(pareto_ranks(points)) if r == 0]


def crowding_distances(points: Sequence[Point]) -> list[float]:
    """NSGA-II's crowding distance of each point among `points` (one front): the boundary points of every
    objective get infinity, the others the sum over objectives of the normalised gap between neighbours."""
    n = len(points)
    out = [0.0] * n
    if n == 0:
        return out
    for m in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][m])
        lo, hi = points[order[0]][m], points[order[-1]][m]
        out[order[0]] = out[order[-1]] = float("inf")
        if hi == lo:
            continue
        for a, i, b in zip(order, order[1:], order[2:], strict=False):
            out[i] += (points[b][m] - points[a][m]) / (hi - lo)
    return out


def selection_order(points: Sequence[Point]) -> list[int]:
    """Indices best first by NSGA-II's crowded comparison: lower Pareto rank, then larger crowding distance
    (within the rank), then input order."""
    ranks = pareto_ranks(points)
    crowd = [0.0] * len(points)
    for r in set(ranks):
        members = [i for i, x in enumerate(ranks) if x == r]
        for i, d in zip(members, crowding_distances([points[i] for i in members]), strict=True):
            crowd[i] = d
    return sorted(range(len(points)), key=lambda i: (ranks[i], -crowd[i], i))
