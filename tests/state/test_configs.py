"""A folder's config is pinned by its first run; a different one is refused, naming what differs."""

import json

import pytest
from pydantic import BaseModel

from nasrec.state import pin_config


class Cfg(BaseModel):
    seed: int = 0
    epochs: float = 1.0
    device: str = "cpu"


def test_first_run_writes_later_runs_must_match(tmp_path):
    path = tmp_path / "config.json"
    pin_config(path, Cfg(), what="run", key="config", extra={"versions": {"x": "1"}})
    assert json.loads(path.read_text()) == {
        "config": {"seed": 0, "epochs": 1.0, "device": "cpu"},
        "versions": {"x": "1"},
    }
    before = path.read_bytes()
    pin_config(path, Cfg(device="cuda"), what="run", key="config", ignore=("device",))
    with pytest.raises(
        ValueError,
        match=r"config.json holds another run's config \(different seed, epochs\); "
        r"use a new folder or the same settings",
    ):
        pin_config(path, Cfg(seed=1, epochs=2), what="run", key="config")
    assert path.read_bytes() == before


def test_an_unreadable_saved_config_is_named(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"seed": "x"}')
    with pytest.raises(
        ValueError,
        match=r"config.json is not a readable supernet config \(Input should be a "
        r"valid integer",
    ):
        pin_config(path, Cfg(), what="supernet")
