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

if (workers := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))) > 1:  # `make test` runs one per core
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))

# The longest tests (seconds on one worker's thread, `pytest --durations`), run first: with two workers the
# run ends when the last test started ends, so a 100-s test collected last (the tutorials are) kept one
# worker busy alone for its length. Only tests without module-scoped fixtures (moving one would set its
# module's fixture up twice). A scheduling hint: an entry that matches nothing changes nothing.
HEAVY = {
    "tests/test_tutorials.py::test_tutorial_runs_end_to_end[custom-dataset]": 100,
    "tests/test_tutorials.py::test_tutorial_runs_end_to_end[custom-strategy]": 45,
    "tests/test_readme.py::test_readme_console_examples_run_in_order": 25,
    "tests/search/test_search_quality.py::": 22,
    "tests/evaluators/test_distributed.py::test_torchrun_": 20,
    "tests/search/test_strategies_benchmark.py::": 15,
    "tests/test_tutorials.py::test_tutorial_runs_end_to_end[custom-operator]": 14,
    "tests/search/test_runner.py::test_sigkill_mid_search_then_resume_equals_an_uninterrupted_run": 11,
    "tests/evaluators/test_defaults.py::": 10,
    "tests/search/test_objectives.py::": 8,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The HEAVY tests first, longest first; the others keep their order (a stable sort)."""

    def seconds(item: pytest.Item) -> int:
        return max((s for prefix, s in HEAVY.items() if item.nodeid.startswith(prefix)), default=0)

    items.sort(key=lambda item: -seconds(item))


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
