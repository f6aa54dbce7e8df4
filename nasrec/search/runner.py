"""The search loop: ask, evaluate through an executor, tell; every finished evaluation is appended (fsync)
to a JSONL log. Restarting on the same log replays it into a fresh strategy (same seed) and continues, so
no logged genotype is evaluated twice and the result equals an uninterrupted run. Replaying the log is the
only way a strategy resumes: strategies keep no saved state of their own."""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path

from nasrec.evaluators import scalars
from nasrec.evaluators.base import derive_seed
from nasrec.evaluators.training import progress_bar
from nasrec.genotype import Genotype
from nasrec.records import Evaluation
from nasrec.search.base import Strategy
from nasrec.search.executors import Executor, score_from_future
from nasrec.state import Stage


def run_search(
    strategy: Strategy,
    executor: Executor,
    log: str | Path,
    *,
    parallel: int = 1,
    seed: int = 0,
    budget: int | None = None,
    progress: bool = False,
) -> list[Evaluation]:
    """Drive `strategy` to completion (or until `budget` evaluations are logged in all). Returns every
    logged evaluation in order."""
    stage = Stage(log, Evaluation, key=lambda e: e.digest)
    in_flight: dict[Future[str], tuple[Genotype, float]] = {}
    total = getattr(strategy, "budget", None)
    best = min((e.score.value for e in stage.records.values() if e.score), default=float("nan"))
    with progress_bar(progress) as bar:
        task = bar.add_task("search", total=total, completed=len(stage), info="")
        while not strategy.done and (budget is None or len(stage) < budget):
            room = parallel - len(in_flight)
            if budget is not None:
                room = min(room, budget - len(stage) - len(in_flight))
            asked = strategy.ask(max(0, room)) if room > 0 else []
            for g in asked:
                known = stage.get(g.digest())
                if known is not None:  # replayed from the log, or a duplicate: never evaluated twice
                    strategy.tell(g, known.score.value if known.score else None)
                else:
                    in_flight[executor.submit(g.to_json(indent=None))] = (g, time.perf_counter())
            if not in_flight:
                if not asked and not strategy.done:
                    raise RuntimeError(
                        "the strategy asked for nothing while no evaluation is running (every evaluation failed?)"
                    )
                continue
            finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            for future in [f for f in in_flight if f in finished]:  # submission order
                g, start = in_flight.pop(future)
                score, error = score_from_future(future)
                stage.add(
                    Evaluation(
                        index=len(stage),
                        digest=g.digest(),
                        genotype=g,
                        score=score,
                        error=error,
                        seed=derive_seed(seed, g.digest()),
                        seconds=time.perf_counter() - start,
                    )
                )
                strategy.tell(g, score.value if score else None)
                if score is not None and not score.value >= best:  # also replaces the initial NaN
                    best = score.value
                if score is not None:
                    scalars.add_scalar("search/score", score.value, len(stage))
                    scalars.add_scalar("search/best_score", best, len(stage))
                bar.update(task, advance=1, info=f"best {best:.4f}")
    return list(stage.records.values())
