"""Where evaluations run: on CUDA each takes a GPU of its own (Ray's tasks ask for one, pool workers see one in
turn); a setup error on a worker says it happened there."""

import os
import socket

import pytest

from nasrec.data.errors import DataError
from nasrec.genotype import NASREC_SMALL
from nasrec.search import pipeline, ray_executor
from nasrec.search.executors import ProcessPoolExecutor
from nasrec.search.random import RandomSearch
from nasrec.search.runner import run_search
from tests.search.placement import SetupFails, WhichGpu


class FakeRay:
    """What `RayExecutor` asks of Ray, recorded: the options of its remote task."""

    def __init__(self) -> None:
        self.options: dict = {}

    def is_initialized(self) -> bool:
        return True

    def remote(self, fn):
        fake = self

        class Remote:
            def options(self, **options):
                fake.options = options
                return self

        return Remote()


@pytest.mark.parametrize(("device", "gpus"), [("cuda", 1.0), ("cpu", 0.0), ("cuda:1", 0.0)])
def test_a_ray_task_on_cuda_asks_ray_for_a_gpu(monkeypatch, tmp_path, device, gpus):
    fake = FakeRay()
    monkeypatch.setattr(ray_executor, "_import_ray", lambda: fake)
    config = pipeline.RunConfig(executor="ray", workers=2, device=device)
    pipeline.Pipeline(config, tmp_path / "run", progress=False)._executor()
    assert (fake.options["num_gpus"], fake.options["num_cpus"]) == (gpus, 1.0)


def test_pool_workers_on_cuda_see_one_gpu_each_in_turn(monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    executor = ProcessPoolExecutor(WhichGpu.name, {"sleep": 1.0}, workers=2, gpu_each=True)
    try:
        records = run_search(RandomSearch(NASREC_SMALL, seed=0, budget=2), executor, tmp_path / "log.jsonl", parallel=2)
    finally:
        executor.close()
    assert sorted(r.score.config["gpu"] for r in records) == ["3", "5"]


def test_a_setup_error_on_a_pool_worker_says_it_happened_there(tmp_path):
    executor = ProcessPoolExecutor(SetupFails.name, {"driver": os.getpid()}, workers=1)
    try:
        with pytest.raises(DataError) as caught:
            run_search(RandomSearch(NASREC_SMALL, seed=0, budget=2), executor, tmp_path / "log.jsonl")
    finally:
        executor.close()
    assert str(caught.value) == f"on worker {socket.gethostname()}: /shared/criteo: no such folder"
