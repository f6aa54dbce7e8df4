"""Ray executor: each evaluation is a Ray task, on this machine or on a cluster.

A task receives the genotype JSON and the evaluator's name and JSON config (never a pickled model) and
returns `Score` JSON. Each worker process rebuilds the evaluator once per (name, config) and keeps it, so a
supernet is loaded once per worker, not once per task. Data travels by path: the config's `data` and
`supernet` must be readable at the same path on every node (`sample:NAME` resolves inside the package).

Retries: a task lost to the system (its worker process killed, its node gone) is rerun by Ray up to
`max_retries` times; after that its future raises `LostTaskError`, which the runner logs as that genotype's
failure while the search goes on. An exception raised by the evaluation itself is deterministic and is NOT
retried: the future raises it as it was raised in the worker.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
from concurrent.futures import Future
from typing import Any

from nasrec.errors import NasrecError, UsageError
from nasrec.evaluators.base import Evaluator, build_evaluator
from nasrec.genotype import Genotype
from nasrec.search.executors import _cancel, _score_json, on_worker

MISSING_RAY = "the ray executor needs Ray: pip install 'nasrec[ray]'"

_evaluators: dict[tuple[str, str], Evaluator] = {}  # per worker process


class LostTaskError(RuntimeError):
    """A task whose worker or node died on every attempt."""


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UsageError(MISSING_RAY) from None
    return ray


def check_address(address: str) -> None:
    """Ray imports and `address` answers (`_reachable`), before any stage: `auto` is resolved as Ray resolves it
    (RAY_ADDRESS, then the cluster `ray start` recorded here). Nothing to check for `local`, nor when Ray is
    already initialised in this process (an executor uses it as it is)."""
    ray = _import_ray()
    if address == "local" or ray.is_initialized():
        return
    target = address
    if address == "auto" and os.environ.get("RAY_ADDRESS"):
        target = os.environ["RAY_ADDRESS"]
    elif address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address

            target = canonicalize_bootstrap_address("auto") or "local"
        except ImportError:  # Ray moved its helper: left to ray.init
            return
        except (ConnectionError, ValueError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UsageError(f"--ray-address {address}: cannot start or join Ray there ({reason})") from None
    _reachable(target, shown=address if target == address else f"{address} ({target})")


def _reachable(address: str, timeout: float = 5.0, shown: str | None = None) -> None:
    """A HOST:PORT or ray://HOST:PORT address must accept a connection within `timeout` seconds (Ray itself
    retries for minutes); other forms are left to Ray. `shown`: the address as the user gave it."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or "://" in host or not port.isdigit():
        return
    address = shown or address
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise UsageError(f"--ray-address {address}: no Ray cluster answers there ({exc.strerror or exc})") from None


def _evaluate_task(name: str, config_json: str, genotype_json: str, threads: int) -> str:
    import torch

    torch.set_num_threads(threads)
    key = (name, config_json)
    if key not in _evaluators:
        try:
            _evaluators[key] = build_evaluator(name, json.loads(config_json))
        except NasrecError as exc:
            raise on_worker(exc) from None
    return _score_json(_evaluators[key], genotype_json)


class RayExecutor:
    """Evaluations as Ray tasks, each requesting `num_cpus` / `num_gpus` and running torch on
    `threads_per_task` threads (default: `num_cpus`, at least 1).

    `address`: "local" starts a Ray instance on this machine (`local_cpus` CPUs, default all); "auto" joins
    the cluster this machine belongs to (`ray start`); "HOST:PORT" or "ray://HOST:10001" joins that cluster.
    When Ray is already initialised in this process, it is used as it is and left running on `close()`;
    otherwise `close()` shuts down the connection (and the local instance) this executor started."""

    def __init__(
        self,
        name: str,
        config: dict[str, Any],
        *,
        address: str = "local",
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
        max_retries: int = 2,
        threads_per_task: int | None = None,
        local_cpus: int | None = None,
    ) -> None:
        ray = _import_ray()
        self.name, self.config_json, self.max_retries = name, json.dumps(config), max_retries
        self.threads = threads_per_task or max(1, int(num_cpus))
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            local = {"num_cpus": local_cpus, "include_dashboard": False} if address == "local" else {}
            check_address(address)
            handler = signal.getsignal(signal.SIGTERM)  # ray.init's own dumps a C++ stack: ours is put back
            try:
                ray.init(address=address, logging_level=logging.ERROR, **local)  # no start-up lines among the stages
            except (ConnectionError, RuntimeError, ValueError) as exc:  # no cluster there, or a malformed address
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise UsageError(f"--ray-address {address}: cannot start or join Ray there ({reason})") from None
            if handler is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, handler)
        self._task = ray.remote(_evaluate_task).options(
            num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries, retry_exceptions=False
        )
        self._pending: set[Any] = set()

    def submit(self, genotype_json: str) -> Future[str]:
        ray = _import_ray()
        ref = self._task.remote(self.name, self.config_json, genotype_json, self.threads)
        self._pending.add(ref)
        out: Future[str] = Future()

        def done(inner: Future[str]) -> None:
            self._pending.discard(ref)
            if inner.cancelled():
                _cancel(out)
                return
            exc = inner.exception()
            if exc is None:
                out.set_result(inner.result())
            elif isinstance(exc, ray.exceptions.RayTaskError):  # the evaluation raised: pass its own exception on
                out.set_exception(exc.cause if isinstance(exc.cause, Exception) else exc)
            elif isinstance(exc, ray.exceptions.RayError):  # worker or node lost on every attempt
                digest = Genotype.from_json(genotype_json).digest()
                out.set_exception(
                    LostTaskError(
                        f"Ray task for genotype {digest} lost after {1 + self.max_retries} attempts "
                        f"(max_retries={self.max_retries}): {type(exc).__name__}: {str(exc).splitlines()[0]}"
                    )
                )
            else:
                out.set_exception(exc)

        ref.future().add_done_callback(done)
        return out

    def close(self) -> None:
        ray = _import_ray()
        if self._owns_ray:
            ray.shutdown()
        else:
            for ref in list(self._pending):
                ray.cancel(ref)
        self._pending.clear()
