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


@pytest.mark.e2e
def test_readme_console_examples_run_in_order(tmp_path):
    """One scratch folder for the whole sequence, as a reader runs them: later examples read earlier outputs
    (so they are one test, not one per command, which parallel workers could run out of order)."""
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    (tmp_path / "out").mkdir()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "120"}
    for command in _console_commands():
        result = subprocess.run(
            shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, command


def test_the_readme_genotype_example_passes_genotype_validate(tmp_path):
    from typer.testing import CliRunner

    from nasrec.cli.genotype import app

    (example,) = re.findall(r"```json\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    (tmp_path / "example.json").write_text(example)
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "example.json")])
    assert result.exit_code == 0 and result.stdout.startswith(f"ok  {tmp_path / 'example.json'}"), result.output


def test_every_relative_link_in_the_readme_and_docs_exists():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)}: {target}")
    assert missing == []
    assert len(pages) >= 7 and "DESIGN.md" not in (ROOT / "README.md").read_text()


def test_the_licence_is_the_apache_license_pyproject_names():
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert 'license = {text = "Apache-2.0"}' in (ROOT / "pyproject.toml").read_text()
