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
