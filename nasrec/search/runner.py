"""The search loop: ask, evaluate through an executor, tell; every finished evaluation is appended (fsync)
to a JSONL log. Restarting on the same log replays it into a fresh strategy (same seed) and continues, so
no logged genotype is evaluated twice and the result equals an uninterrupted run. Replaying the log is the
only way a strategy resumes: strategies keep no saved state of their own.

With several `objectives` the strategy is told one value per objective (`nasrec.search.objectives`). With
`stats`, what the strategy counts as it goes (`search_stats`: proposals rejected by constraints, and the
strategy's own `stats()`, e.g. a surrogate's Kendall tau) is rewritten there (atomically) when it changes."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

from nasrec.errors import UsageError
from nasrec.evaluators import scalars
from nasrec.evaluators.base import Score, derive_seed
from nasrec.evaluators.progress import progress_bar
from nasrec.genotype import Genotype
from nasrec.records import Evaluation
from nasrec.search.base import Strategy, Told
from nasrec.search.executors import Executor, score_from_future
from nasrec.search.objectives import check_objectives, objective_values
from nasrec.state import Stage, atomic_write_text


def search_stats(strategy: Strategy) -> dict[str, Any]:
    """What `strategy` counted: proposals its constraints rejected (never scored) and its own `stats()`."""
    out: dict[str, Any] = {}
    proposer = getattr(strategy, "proposer", None)
    if proposer is not None:
        out["rejected"] = proposer.rejected
        out["rejections"] = dict(proposer.rejections)
    stats = getattr(strategy, "stats", None)
    if callable(stats):
        out.update(stats())
    return out


def _failures(stage: Stage[str, Evaluation]) -> str:
    failed = [e for e in stage.records.values() if e.score is None]
    if not failed:
        return "no evaluation failed"
    return (
        f"{len(failed)} of {len(stage)} evaluations failed (the first: {failed[0].error}); they stay in the log "
        "as failures: fix the cause, then delete the log (or the run folder) to evaluate them again"
    )


def told_value(score: Score | None, objectives: Sequence[str] = ("logloss",)) -> Told:
    """What the strategy is told for `score`: its value, one value per objective, or None (failed)."""
    if score is None:
        return None
    return score.value if len(objectives) == 1 else objective_values(score, objectives)


def run_search(
    strategy: Strategy,
    executor: Executor,
    log: str | Path,
    *,
    parallel: int = 1,
    seed: int = 0,
    budget: int | None = None,
    progress: bool = False,
    objectives: Sequence[str] = ("logloss",),
    stats: str | Path | None = None,
    reuse: Mapping[str, Evaluation] | None = None,
    label: str = "search",
) -> list[Evaluation]:
    """Drive `strategy` to completion (or until `budget` evaluations are logged in all). Returns every
    logged evaluation in order. `reuse`: evaluations by the same evaluator logged elsewhere, by digest (e.g.
    the run's search, for its random baseline): a genotype found there is logged with its score (0 seconds)
    instead of being evaluated again. `label`: the progress bar's."""
    objectives = check_objectives(objectives)  # before anything is logged
    stage = Stage(log, Evaluation, key=lambda e: e.digest)
    in_flight: dict[Future[str], tuple[Genotype, float]] = {}
    queue: list[Genotype] = []  # asked, not yet submitted
    total = getattr(strategy, "budget", None)
    best = min((e.score.value for e in stage.records.values() if e.score), default=float("nan"))
    written = [""]

    def write_stats() -> None:
        now = json.dumps(search_stats(strategy), indent=1) + "\n"
        if stats is not None and now != written[0] and now != "{}\n":
            atomic_write_text(stats, now)
            written[0] = now

    with progress_bar(progress) as bar:
        task = bar.add_task(label, total=total, completed=len(stage), info="")
        while not strategy.done and (budget is None or len(stage) < budget):
            room = parallel - len(in_flight)
            if budget is not None:
                room = min(room, budget - len(stage) - len(in_flight))
            asked = strategy.ask(room) if room > 0 and not queue else []
            queue += asked  # a strategy may return more than asked (a cycle's children): the rest waits its turn
            while queue:
                g = queue[0]
                known = stage.get(g.digest())
                if known is not None:  # replayed from the log, or a duplicate: never evaluated twice
                    strategy.tell(queue.pop(0), told_value(known.score, objectives))
                    continue
                if room <= 0:
                    break
                room -= 1
                queue.pop(0)
                if reuse is not None and g.digest() in reuse:
                    done = reuse[g.digest()]
                    stage.add(done.model_copy(update={"index": len(stage), "seconds": 0.0}))
                    strategy.tell(g, told_value(done.score, objectives))
                    bar.update(task, advance=1)
                else:
                    in_flight[executor.submit(g.to_json(indent=None))] = (g, time.perf_counter())
            if not in_flight:
                if not asked and not queue and not strategy.done:
                    raise UsageError(f"{log}: the strategy has nothing to ask, nothing is running; {_failures(stage)}")
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
                strategy.tell(g, told_value(score, objectives))
                if score is not None and not score.value >= best:  # also replaces the initial NaN
                    best = score.value
                if score is not None:
                    scalars.add_scalar("search/score", score.value, len(stage))
                    scalars.add_scalar("search/best_score", best, len(stage))
                bar.update(task, advance=1, info=f"best {best:.4f}")
            write_stats()
    write_stats()
    return list(stage.records.values())
