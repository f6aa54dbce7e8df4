"""The Ray executor on a real local Ray instance (2 CPUs): same scores as in-process, lost workers retried,
tasks lost on every attempt logged as failures, and the pipeline / CLI options."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import ray
import torch
from typer.testing import CliRunner

from nasrec.data.errors import DataError
from nasrec.errors import UsageError
from nasrec.evaluators import (
    FinetunedProxy,
    SupernetTrainingConfig,
    TrainConfig,
    train_supernet,
)
from nasrec.genotype import NASREC_SMALL
from nasrec.search.executors import InProcessExecutor
from nasrec.search.random import RandomSearch
from nasrec.search.ray_executor import MISSING_RAY, RayExecutor
from nasrec.search.runner import run_search
from tests.search.formula import FormulaEvaluator
from tests.spaces import TINY


class Flaky:
    """Formula scores, but every attempt is counted in STATE/DIGEST.attempts; for the genotype `die`, the
    first `die_attempts` attempts publish their pid in STATE/victim.pid and wait to be killed; the genotype
    `fail` raises."""

    name = "tests.search.test_ray_executor:Flaky"

    def __init__(self, state: str, die: str = "", die_attempts: int = 0, fail: str = "") -> None:
        self.state, self.die, self.die_attempts, self.fail = Path(state), die, die_attempts, fail

    def evaluate(self, genotypes):
        for g in genotypes:
            d = g.digest()
            with open(self.state / f"{d}.attempts", "a") as fh:
                fh.write(f"{os.getpid()}\n")
            if d == self.die and attempts(self.state, d) <= self.die_attempts:
                (self.state / "pid.tmp").write_text(str(os.getpid()))
                (self.state / "pid.tmp").replace(self.state / "victim.pid")
                time.sleep(120)
                raise RuntimeError("was not killed")
            if d == self.fail:
                raise ValueError(f"deterministic failure for {d}")
        return FormulaEvaluator().evaluate(genotypes)


def attempts(state: Path, digest: str) -> int:
    path = state / f"{digest}.attempts"
    return path.read_text().count("\n") if path.exists() else 0


@contextmanager
def killer(state: Path):
    """SIGKILLs every worker that publishes its pid; yields the killed pids."""
    stop, killed = threading.Event(), []

    def loop() -> None:
        pid_file = state / "victim.pid"
        while not stop.is_set():
            if pid_file.exists():
                pid = int(pid_file.read_text())
                pid_file.unlink()
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.05)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield killed
    finally:
        stop.set()
        thread.join()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """Prepared data in a temporary cache, for this process and (set before Ray starts) its workers."""
    os.environ.setdefault("NASREC_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def supernet(tmp_path_factory, cache, tiny_space_file):
    """A tiny-space supernet trained briefly on the bundled Criteo rows."""
    root = tmp_path_factory.mktemp("ray-supernet")
    config = SupernetTrainingConfig(
        data="sample:criteo", space=tiny_space_file, cap=2000, train=TrainConfig(epochs=0.5, lr=0.03)
    )
    train_supernet(config, root / "supernet")
    return str(root / "supernet" / "checkpoint.pt")


@pytest.fixture(scope="module")
def local_ray(cache):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _run(executor, log: Path, seed: int, n: int, space=NASREC_SMALL):
    try:
        return run_search(RandomSearch(space, seed=seed, budget=n), executor, log, parallel=2)
    finally:
        executor.close()


def test_ray_gives_the_same_scores_and_errors_as_in_process(local_ray, tmp_path):
    evaluator = FormulaEvaluator(fail_digits="0")
    local = run_search(RandomSearch(NASREC_SMALL, seed=4, budget=8), InProcessExecutor(evaluator), tmp_path / "a.jsonl")
    remote = _run(RayExecutor(evaluator.name, evaluator.config), tmp_path / "b.jsonl", seed=4, n=8)
    assert ray.is_initialized()  # a running Ray is reused and left running
    assert {r.digest: (r.score, r.error) for r in local} == {r.digest: (r.score, r.error) for r in remote}


def test_ray_gives_the_same_scores_as_in_process_with_the_finetuned_proxy(local_ray, supernet, tmp_path):
    config = {"data": "sample:criteo", "supernet": supernet, "recipe": "fast", "train_rows": 1024, "valid_rows": 1024}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in each Ray task (threads_per_task=1)
    try:
        local = run_search(
            RandomSearch(TINY, seed=3, budget=4), InProcessExecutor(FinetunedProxy(**config)), tmp_path / "a.jsonl"
        )
    finally:
        torch.set_num_threads(threads)
    remote = _run(RayExecutor("finetune", config, threads_per_task=1), tmp_path / "b.jsonl", seed=3, n=4, space=TINY)
    assert all(r.score for r in remote)

    def scores(records):
        return {(r.digest, m): getattr(r.score, m) for r in records for m in ("log_loss", "auc")}

    assert scores(remote) == pytest.approx(scores(local), abs=1e-6)


def test_a_worker_killed_mid_task_is_retried_and_the_search_completes(local_ray, tmp_path):
    local = run_search(
        RandomSearch(NASREC_SMALL, seed=5, budget=6), InProcessExecutor(FormulaEvaluator()), tmp_path / "a.jsonl"
    )
    victim = local[1].digest
    with killer(tmp_path) as killed:
        remote = _run(
            RayExecutor(Flaky.name, {"state": str(tmp_path), "die": victim, "die_attempts": 1}),
            tmp_path / "b.jsonl",
            seed=5,
            n=6,
        )
    assert len(killed) == 1 and attempts(tmp_path, victim) == 2
    assert all(r.error is None for r in remote)
    assert {r.digest: r.score.log_loss for r in remote} == {r.digest: r.score.log_loss for r in local}


def test_a_task_lost_on_every_attempt_is_logged_and_the_others_finish(local_ray, tmp_path):
    local = run_search(
        RandomSearch(NASREC_SMALL, seed=6, budget=6), InProcessExecutor(FormulaEvaluator()), tmp_path / "a.jsonl"
    )
    victim, bad = local[0].digest, local[2].digest
    config = {"state": str(tmp_path), "die": victim, "die_attempts": 99, "fail": bad}
    with killer(tmp_path) as killed:
        remote = _run(RayExecutor(Flaky.name, config, max_retries=2), tmp_path / "b.jsonl", seed=6, n=6)
    assert len(remote) == 6 and len(killed) == 3 and attempts(tmp_path, victim) == 3
    errors = {r.digest: r.error for r in remote if r.error}
    assert errors.keys() == {victim, bad}
    assert errors[victim].startswith(f"LostTaskError: Ray task for genotype {victim} lost after 3 attempts")
    assert errors[bad] == f"ValueError: deterministic failure for {bad}"
    assert attempts(tmp_path, bad) == 1  # an evaluation's own exception is not retried
    assert all(r.score for r in remote if r.digest not in errors)


def test_the_pipeline_and_the_cli_choose_the_ray_executor(local_ray, supernet, tiny_space_file, tmp_path, monkeypatch):
    from nasrec.cli import main
    from nasrec.search import pipeline

    config = pipeline.RunConfig(executor="ray", workers=2, ray_address="auto")
    executor = pipeline.Pipeline(config, tmp_path / "run", progress=False)._executor()
    executor.close()
    assert isinstance(executor, RayExecutor) and ray.is_initialized()
    root = Path(supernet).parents[1]  # holds supernet/checkpoint.pt, as a run folder does
    evaluator = pipeline.EvaluatorChoice(config={"recipe": "fast", "train_rows": 1024, "valid_rows": 1024})
    run = pipeline.Pipeline(
        config.model_copy(update={"space": tiny_space_file, "evaluator": evaluator}), root, progress=False
    )
    records = run.search(tmp_path / "random.jsonl", pipeline.StrategyChoice(name="random", options={"budget": 3}))
    assert len(records) == 3 and all(r.score and r.score.evaluator == "finetune" for r in records)
    pipeline.Pipeline(config.model_copy(update={"executor": "auto"}), tmp_path / "run")._write_config()
    pipeline.Pipeline(config, tmp_path / "run")._write_config()  # a run may resume on another executor

    seen = []

    class Stop(pipeline.Pipeline):
        def run(self):
            seen.append(self.config)
            raise UsageError("stopped")

    monkeypatch.setattr("nasrec.cli.search.Pipeline", Stop)
    result = CliRunner().invoke(
        main.app,
        ["search", "--executor", "ray", "--ray-address", "auto", "--workers", "3", "-o", str(tmp_path / "cli")],
    )
    assert result.exit_code == 1 and "stopped" in result.output
    assert (seen[0].executor, seen[0].ray_address, seen[0].workers) == ("ray", "auto", 3)


def test_without_ray_the_error_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(UsageError, match=r"^the ray executor needs Ray: pip install 'nasrec\[ray\]'$"):
        RayExecutor("supernet", {})
    assert MISSING_RAY == "the ray executor needs Ray: pip install 'nasrec[ray]'"


def test_an_address_ray_cannot_use_is_one_error_naming_the_option(tmp_path):
    """A malformed address, and a HOST:PORT where nothing answers. In a process of its own: this module's tests
    share a running local Ray, which an executor would use (and which `auto` would join)."""
    code = (
        "from nasrec.search.ray_executor import RayExecutor\n"
        "try:\n"
        "    RayExecutor('params', {'data': 'sample:criteo'}, address='nonsense')\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert (
        out.stdout
        == "UsageError --ray-address nonsense: cannot start or join Ray there (Invalid address format: nonsense)\n"
    )
    refused = subprocess.run(  # Ray itself would retry a HOST:PORT that refuses connections for minutes
        [sys.executable, "-c", code.replace("'nonsense'", "'127.0.0.1:1'")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert refused.stdout == "UsageError --ray-address 127.0.0.1:1: no Ray cluster answers there (Connection refused)\n"


def test_a_setup_error_on_a_ray_worker_says_it_happened_there(local_ray, tmp_path):
    from tests.search.placement import SetupFails

    with pytest.raises(DataError) as caught:
        _run(RayExecutor(SetupFails.name, {"driver": os.getpid()}), tmp_path / "log.jsonl", seed=0, n=2)
    assert str(caught.value) == f"on worker {socket.gethostname()}: /shared/criteo: no such folder"
