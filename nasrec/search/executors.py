"""Executors run evaluations. Workers receive genotype JSON and the evaluator's name and JSON config, never
pickled models; they return `Score` JSON. In-process (default) and process-pool implementations.

An exception the evaluation raises is that genotype's result (the runner logs it and goes on). Two kinds are
not, and stop the search unlogged (a rerun resumes it): a `UsageError` or `DataError` (the setup: a supernet
or data file missing or unreadable where the evaluation runs, a device not there; every genotype would fail
alike), and losing the workers: a process pool whose worker dies (killed by the system, e.g. out of memory)
fails every evaluation in flight, so it is started again and those evaluations resubmitted, up to
`max_restarts` times; after that the futures raise `WorkersLost`."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor as _Pool
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from nasrec.data.errors import DataError
from nasrec.errors import NasrecError, UsageError
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


class LazyExecutor:
    """The executor `build` makes, made on the first `submit`: a search whose log holds every evaluation starts
    no workers (nor Ray, whose cluster may be gone by a rerun)."""

    def __init__(self, build: Callable[[], Executor]) -> None:
        self._build = build
        self._inner: Executor | None = None

    def submit(self, genotype_json: str) -> Future[str]:
        if self._inner is None:
            self._inner = self._build()
        return self._inner.submit(genotype_json)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()


_worker_evaluator: Evaluator | None = None
_worker_setup_error: NasrecError | None = None  # raised by every evaluation: an initializer's error breaks the pool


def on_worker(exc: NasrecError) -> NasrecError:
    """A worker's setup error, of its own type, saying where it happened (a path missing on the workers only)."""
    message = f"on worker {socket.gethostname()}: {exc}"
    try:
        return type(exc)(message)
    except TypeError:  # a type built otherwise
        return UsageError(message)


def on_cuda(device: str) -> bool:
    """Whether evaluations on `device` take one GPU each: `cuda`, or `auto` where this machine has CUDA (`cuda:N`
    names one GPU for them all)."""
    import torch

    return device == "cuda" or (device == "auto" and torch.cuda.is_available())


def _visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES names them."""
    import torch

    named = os.environ.get("CUDA_VISIBLE_DEVICES")
    return (
        [d for d in named.split(",") if d.strip()]
        if named is not None
        else [str(i) for i in range(torch.cuda.device_count())]
    )


def _init_worker(name: str, config_json: str, threads: int, parent: int, gpus: list[str], slot: Any = None) -> None:
    global _worker_evaluator, _worker_setup_error
    if gpus and slot is not None:  # before torch touches CUDA: this worker's `cuda` is one GPU, in turn
        with slot.get_lock():
            os.environ["CUDA_VISIBLE_DEVICES"] = gpus[slot.value % len(gpus)]
            slot.value += 1
    import torch

    _exit_with_parent(parent)
    torch.set_num_threads(threads)
    try:
        _worker_evaluator = build_evaluator(name, json.loads(config_json))
    except NasrecError as exc:  # a setup error (missing data): reported by the evaluations, not as a dead pool
        _worker_setup_error = on_worker(exc)


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """Exit this worker once its parent is gone (re-parented: `getppid` changes), checked every `every` seconds
    by a daemon thread: a driver killed by SIGKILL cannot stop its pool, whose workers would otherwise live on,
    holding the evaluator's memory, beside the workers of the rerun that resumes the search."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="nasrec-parent-watch", daemon=True).start()


def _evaluate_in_worker(genotype_json: str) -> str:
    if _worker_setup_error is not None:
        raise _worker_setup_error
    assert _worker_evaluator is not None
    return _score_json(_worker_evaluator, genotype_json)


def _cancel(future: Future[str]) -> None:
    """Cancel `future` and wake whoever waits on it (`concurrent.futures.wait` counts a cancelled future as done
    only once notified)."""
    if future.cancel():
        future.set_running_or_notify_cancel()


class WorkersLost(UsageError):
    """The executor's workers died more often than it restarts them: the evaluations in flight are not the
    genotypes' failures, so the search stops without logging them."""


class ProcessPoolExecutor:
    """`workers` processes (spawned, so no state leaks from the parent), each rebuilding the evaluator
    from `name` and `config` once; with `gpu_each`, each sees one of this machine's GPUs, in turn (as its `cuda`).
    A pool whose worker dies is started again and the evaluations in flight resubmitted, at most `max_restarts`
    times per executor (module docstring)."""

    def __init__(
        self,
        name: str,
        config: dict[str, Any],
        workers: int = 2,
        threads_per_worker: int = 1,
        max_restarts: int = 2,
        gpu_each: bool = False,
    ) -> None:
        self._args = (workers, (name, json.dumps(config), threads_per_worker))
        self._context = multiprocessing.get_context("spawn")
        self._gpus = _visible_gpus() if gpu_each else []  # each worker one in turn (`gpu_each`: on CUDA)
        self._slot = self._context.Value("i", 0) if self._gpus else None
        self.max_restarts, self.restarts = max_restarts, 0
        self._lock = threading.Lock()
        self._closed = False
        self.pool = self._new_pool()

    def _new_pool(self) -> _Pool:
        workers, initargs = self._args
        return _Pool(
            max_workers=workers,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=(*initargs, os.getpid(), self._gpus, self._slot),
        )

    def submit(self, genotype_json: str) -> Future[str]:
        out: Future[str] = Future()
        self._launch(genotype_json, out)
        return out

    def _launch(self, genotype_json: str, out: Future[str]) -> None:
        pool = self.pool
        try:
            inner = pool.submit(_evaluate_in_worker, genotype_json)
        except BrokenProcessPool:
            self._restart(pool, genotype_json, out)
            return
        except RuntimeError:  # shut down by `close` meanwhile
            _cancel(out)
            return
        inner.add_done_callback(lambda done: self._finish(done, pool, genotype_json, out))

    def _finish(self, inner: Future[str], pool: _Pool, genotype_json: str, out: Future[str]) -> None:
        if inner.cancelled():
            _cancel(out)
        elif isinstance(inner.exception(), BrokenProcessPool):
            self._restart(pool, genotype_json, out)
        elif inner.exception() is not None:
            out.set_exception(inner.exception())
        else:
            out.set_result(inner.result())

    def _restart(self, broken: _Pool, genotype_json: str, out: Future[str]) -> None:
        """Resubmit on a fresh pool (started once per broken pool), or fail `out` with `WorkersLost`."""
        with self._lock:
            if self._closed:  # stopped by `close`, not lost: nothing is started again
                _cancel(out)
                return
            if self.pool is broken and self.restarts < self.max_restarts:
                self.restarts += 1
                self.pool = self._new_pool()  # the broken one has already stopped its workers
            lost = self.pool is broken
        if lost:
            digest = Genotype.from_json(genotype_json).digest()
            out.set_exception(
                WorkersLost(
                    f"an evaluation's worker process died {self.restarts + 1} times (killed by the system? e.g. "
                    f"out of memory; genotype {digest} was among those in flight): the log keeps every finished "
                    "evaluation; rerun the same command to resume, with fewer workers or threads if memory is short"
                )
            )
        else:
            self._launch(genotype_json, out)

    def close(self) -> None:
        """Stop the pool. Evaluations still running (a search interrupted, e.g. by Ctrl-C) are not waited for:
        nothing would log their results, and a full training can take hours, so their workers are terminated."""
        with self._lock:  # no restart installs a new pool after this
            self._closed = True
        processes = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            if proc.is_alive():
                proc.terminate()
        for proc in processes:
            proc.join(timeout=10)
            if proc.is_alive():  # it ignored SIGTERM
                proc.kill()
                proc.join(timeout=10)


def score_from_future(future: Future[str]) -> tuple[Score | None, str | None]:
    """(score, None), or (None, the error) when the evaluation raised or its score is not finite (JSON writes
    NaN as null: e.g. a subnet whose logits diverged); a setup error (`UsageError`, `DataError`, `WorkersLost`)
    is raised, not logged as the genotype's failure."""
    try:
        score = Score.model_validate_json(future.result())
    except (UsageError, DataError):
        raise
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
    value = score.objective if score.objective is not None else score.log_loss
    if value is None or not math.isfinite(value):
        return None, "no finite score: the evaluation's predictions were not finite"
    return score, None
