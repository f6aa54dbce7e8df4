"""Executors run evaluations. Workers receive genotype JSON and the evaluator's name and JSON config, never
pickled models; they return `Score` JSON. In-process (default) and process-pool implementations."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor as _Pool
from typing import Any, Protocol

from nasrec.evaluators.base import Evaluator, Score, build_evaluator
from nasrec.genotype import Genotype


class Executor(Protocol):
    def submit(self, genotype_json: str) -> Future[str]:
        """Evaluate one genotype; the future's result is the `Score` as JSON."""

    def close(self) -> None: ...


def _score_json(evaluator: Evaluator, genotype_json: str) -> str:
    (score,) = evaluator.evaluate([Genotype.from_json(genotype_json)])
    return score.model_dump_json()


class InProcessExecutor:
    """Runs each evaluation in this process when submitted."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator

    def submit(self, genotype_json: str) -> Future[str]:
        future: Future[str] = Future()
        try:
            future.set_result(_score_json(self.evaluator, genotype_json))
        except Exception as exc:  # reported through the future, like a worker's failure
            future.set_exception(exc)
        return future

    def close(self) -> None:
        pass


_worker_evaluator: Evaluator | None = None


def _init_worker(name: str, config_json: str, threads: int) -> None:
    global _worker_evaluator
    import torch

    torch.set_num_threads(threads)
    _worker_evaluator = build_evaluator(name, json.loads(config_json))


def _evaluate_in_worker(genotype_json: str) -> str:
    assert _worker_evaluator is not None
    return _score_json(_worker_evaluator, genotype_json)


class ProcessPoolExecutor:
    """`workers` processes (spawned, so no state leaks from the parent), each rebuilding the evaluator
    from `name` and `config` once."""

    def __init__(self, name: str, config: dict[str, Any], workers: int = 2, threads_per_worker: int = 1) -> None:
        self.pool = _Pool(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(name, json.dumps(config), threads_per_worker),
        )

    def submit(self, genotype_json: str) -> Future[str]:
        return self.pool.submit(_evaluate_in_worker, genotype_json)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def score_from_future(future: Future[str]) -> tuple[Score | None, str | None]:
    try:
        return Score.model_validate_json(future.result()), None
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
