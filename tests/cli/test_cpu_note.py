"""On a machine with CUDA, the commands that train on the CPU note it after their own checks: a bad flag, space,
data or supernet prints its error alone (the note itself: tests/cli/test_device_option.py)."""

import pytest
import torch
from typer.testing import CliRunner

from nasrec.cli import main

NO_DATA = "error: /nonexistent: no such folder\n"
NO_SPACE = "error: unknown search space 'nope' (presets: nasrec-small, nasrec-full, or a JSON file)\n"
BAD_SEED = "error: --seed: Input should be greater than or equal to 0, got -1\n"


@pytest.fixture(autouse=True)
def cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def stderr(args: list[str]) -> str:
    result = CliRunner().invoke(main.app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    return result.stderr


@pytest.mark.parametrize("command", ["train-supernet", "rank-study"])
@pytest.mark.parametrize(
    ("flags", "error"),
    [
        pytest.param(["--data", "/nonexistent"], NO_DATA, id="data"),
        pytest.param(["--space", "nope"], NO_SPACE, id="space"),
        pytest.param(["--seed", "-1"], BAD_SEED, id="flag"),
    ],
)
def test_an_error_of_a_training_command_comes_without_the_note(command, flags, error, tmp_path):
    assert stderr([command, "-o", str(tmp_path / "out"), *flags]) == error


def test_an_error_of_evaluate_comes_without_the_note():
    assert stderr(["evaluate", "zoo:dlrm", "--data", "/nonexistent"]) == NO_DATA
    assert stderr(["evaluate", "zoo:dlrm", "--inherit", "/nonexistent/checkpoint.pt"]) == (
        "error: supernet /nonexistent/checkpoint.pt: /nonexistent/checkpoint.pt does not exist "
        "(train one with `nasrec train-supernet`)\n"
    )
