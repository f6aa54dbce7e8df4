from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nasrec_cache")


@pytest.fixture(autouse=True)
def _cache_env(monkeypatch: pytest.MonkeyPatch, session_cache: Path) -> Path:
    """Every data test prepares into a temporary cache, shared across the session (samples once)."""
    monkeypatch.setenv("NASREC_CACHE", str(session_cache))
    return session_cache
