"""The tutorials in docs/tutorials/ run end to end as written, each in a fresh folder.

A fenced block whose info string names `file=PATH` is written to PATH; a `console` block's `$ ` lines run in
order; any other `python` block runs as a script. `pip install ./PKG` installs PKG into the tutorial's own
folder (`--target`, no network, no dependencies), put on PYTHONPATH, so a test never changes the environment.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.md"))
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", flags=re.S | re.M)


def steps(page: Path) -> list[tuple[str, str]]:
    """(kind, payload) in page order: ("file", "PATH\\ntext"), ("shell", command) or ("python", source)."""
    out = []
    for lang, info, body in BLOCK.findall(page.read_text()):
        target = re.search(r"file=(\S+)", info)
        if target:
            out.append(("file", f"{target.group(1)}\n{body}"))
        elif lang == "console":
            out += [("shell", line[2:]) for line in body.splitlines() if line.startswith("$ ")]
        elif lang == "python":
            out.append(("python", body))
    return out


def _run(args: list[str], work: Path, env: dict[str, str]) -> None:
    result = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{shlex.join(args)}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr


@pytest.mark.e2e
@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_end_to_end(page, tmp_path):
    work, site = tmp_path / "work", tmp_path / "site"
    work.mkdir()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
        "NASREC_CACHE": str(tmp_path / "cache"),
        "COLUMNS": "120",
    }
    for kind, payload in steps(page):
        if kind == "file":
            path, text = payload.split("\n", 1)
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text(text)
        elif kind == "python":
            _run([sys.executable, "-c", payload], work, env)
        else:
            args = shlex.split(payload)
            if args[:2] == ["pip", "install"]:
                args = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
                args += ["--no-build-isolation", "--target", str(site), *shlex.split(payload)[2:]]
            _run(args, work, env)


def test_the_tutorials_are_there_and_linked():
    assert [p.name for p in TUTORIALS] == ["custom-dataset.md", "custom-operator.md", "custom-strategy.md"]
    assert {kind for kind, _ in steps(TUTORIALS[1])} == {"file", "shell", "python"}
    readme = (ROOT / "README.md").read_text()
    assert all(f"docs/tutorials/{p.name}" in readme for p in TUTORIALS)
