"""docs/compiler.md's "Serving raw rows" example runs as written: raw lines encoded by `RowEncoder` and served by
onnxruntime give nasrec's own logits for the prepared rows."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasrec.cli.main import app

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def section() -> str:
    text = (ROOT / "docs" / "compiler.md").read_text()
    start = text.index("### Serving raw rows")
    return text[start : text.index("\n### ", start + 1)]


def test_the_serving_example_runs_and_serves_nasrecs_own_predictions(tmp_path, monkeypatch):
    text = section()
    commands = [line[2:] for block in re.findall(r"```console\n(.*?)```", text, flags=re.S)
                for line in block.splitlines() if line.startswith("$ ")]  # fmt: skip
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert [c.split()[:2] for c in commands] == [["nasrec", "evaluate"], ["nasrec", "export"]]
    monkeypatch.chdir(tmp_path)
    for command in commands:
        result = CliRunner().invoke(app, shlex.split(command)[1:], env={"COLUMNS": "200"})
        assert result.exit_code == 0, f"{command}\n{result.output}"
    scope: dict = {}
    exec(compile(code, "docs/compiler.md", "exec"), scope)  # its own assert compares the two
    assert scope["served"].shape == (500,) and scope["facts"]["data"] == "sample:criteo"
    assert scope["facts"]["encoding"] == "vocab" and scope["sparse"].dtype.name == "int64"
