"""The README's `console` examples run as written (from the repository root, in a scratch copy)."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _console_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```console\n(.*?)```", text, flags=re.S)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def test_readme_has_examples():
    assert len(_console_commands()) >= 8


@pytest.mark.parametrize("command", _console_commands())
def test_readme_console_examples_run(command, tmp_path_factory):
    work = tmp_path_factory.getbasetemp() / "readme"
    if not work.exists():
        work.mkdir()
        (work / "tests").symlink_to(ROOT / "tests")
        (work / "out").mkdir()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "120"}
    result = subprocess.run(shlex.split(command), cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
