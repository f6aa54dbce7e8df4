"""Shared test configuration: hypothesis profiles and paths.

`fast` (default, CI) keeps property tests to seconds; `--hypothesis-profile=thorough` runs >= 10,000
examples per property.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

from tests.spaces import TINY

settings.register_profile("fast", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fast")

WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if WORKERS > 1:  # `make test` runs one per core
    THREADS = max(1, (os.cpu_count() or 1) // WORKERS)
    torch.set_num_threads(THREADS)
    # and so do the commands a test runs (the tutorials, the README): with every core's threads each, their
    # OpenMP threads waited on a core the other worker held (the custom-dataset tutorial: 57 s alone, 188 s here)
    os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))

# The longest tests (seconds, one thread: `OMP_NUM_THREADS=1 pytest -p no:xdist --durations=150` on 2026-12-07,
# beside one other job; each xdist worker of `make test` on 2 cores has one thread too). pytest-xdist's worksteal
# scheduler hands each worker one contiguous share of the collection and lets an idle worker steal the *end* of
# another's queue, so the run ends when the last long test started ends: collected last (the tutorials are), one kept a
# worker busy alone at the end; all at the front of the first share, they ran one after another on one worker.
# Each share starts with its part of them instead (longest first, each to the lightest share). Only tests
# without module-scoped fixtures (moving one would set its module's fixture up twice). A scheduling hint: an
# entry that matches nothing changes nothing.
HEAVY = {
    "tests/test_tutorials.py::test_tutorial_runs_end_to_end[custom-dataset]": 72,
    "tests/test_tutorials.py::test_tutorial_runs_end_to_end[custom-operator]": 50,
    "tests/test_tutorials.py::test_tutorial_runs_end_to_end[custom-strategy]": 39,
    "tests/evaluators/test_distributed.py::test_torchrun_resumes_to_the_uninterrupted_result": 29,
    "tests/search/test_search_quality.py::test_the_benchmark_writes_every_field": 28,
    "tests/evaluators/test_defaults.py::test_a_final_retraining_on_train_and_valid": 23,
    "tests/test_readme.py::test_readme_console_examples_run_in_order": 22,
    "tests/search/test_objectives.py::test_a_guided_search_finds_the_known_front_with_fewer_evaluations_than_the_"
    "space_holds[predictor-evolution]": 18,
    "tests/evaluators/test_distributed.py::test_torchrun_two_ranks_match_each_other": 14,
    "tests/compiler/test_equivalence.py::test_view_equals_standalone": 13,
    "tests/evaluators/test_defaults.py::test_scratch_training_at_the_cli_defaults": 12,
    "tests/search/test_strategies_benchmark.py::test_two_supernets_keep_a_cache_each": 9,
    "tests/search/test_strategies_benchmark.py::test_every_strategy_gets_the_same_budget": 8,
    "tests/evaluators/test_distributed.py::test_the_documented_torchrun_command": 8,
    "tests/search/test_runner.py::test_sigkill_mid_search_then_resume": 8,
    "tests/benchmarks/test_train_step_pinned.py::test_each_worker_imports_its_own_copy": 7,
    "tests/evaluators/test_defaults.py::test_ten_epochs_at_the_cli_defaults": 7,
    "tests/search/test_runner.py::test_a_worker_killed_by_the_system_is_replaced": 6,
    "tests/search/test_runner.py::test_workers_that_keep_dying": 4,
    "tests/search/test_strategies_benchmark.py::test_processes_that_split_the_seeds": 4,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Reorder for `WORKERS` xdist workers: share i (in xdist's split) starts with its HEAVY tests; the others
    keep their order."""

    def seconds(item: pytest.Item) -> int:
        return max((s for prefix, s in HEAVY.items() if item.nodeid.startswith(prefix)), default=0)

    heavy = sorted((item for item in items if seconds(item)), key=seconds, reverse=True)
    rest = [item for item in items if not seconds(item)]
    groups: list[list[pytest.Item]] = [[] for _ in range(WORKERS)]
    for item in heavy:  # longest first, each to the share with the least so far
        min(groups, key=lambda g: sum(map(seconds, g))).append(item)
    out: list[pytest.Item] = []
    for i, group in enumerate(groups):
        size = (len(items) - len(out)) // (WORKERS - i)  # as xdist splits what is left among the workers left
        take = max(0, size - len(group))
        out += group + rest[:take]
        rest = rest[take:]
    items[:] = out + rest


TEST_DATA = Path(__file__).parent / "data"
NASREC_REF_FILES = sorted((TEST_DATA / "nasrec_ref").glob("*.json"))


@pytest.fixture(scope="session")
def nasrec_ref_files() -> list[Path]:
    assert len(NASREC_REF_FILES) == 6
    return NASREC_REF_FILES


@pytest.fixture(scope="session")
def tiny_space_file(tmp_path_factory) -> str:
    """`TINY` as a JSON space file."""
    path = tmp_path_factory.mktemp("space") / "tiny.json"
    path.write_text(TINY.model_dump_json())
    return str(path)
