"""The CLI starts without the heavy optional imports: every command pays for what it imports at start-up."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer

from nasrec.cli.main import app

HEAVY = ("torch", "scipy", "optuna", "ray", "graphviz", "onnx", "pyarrow", "tensorboard")


def test_the_cli_imports_neither_scipy_nor_the_optional_extras_at_start_up():
    probe = (
        "import sys, nasrec.cli.main\n"
        "heavy = ('scipy', 'optuna', 'ray', 'graphviz', 'onnx', 'pyarrow', 'tensorboard')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


LIGHT = [
    [],
    ["--help"],
    ["--version"],
    ["--bogus"],
    ["nosuch"],
    ["data"],
    ["data", "--help"],
    ["data", "nosuch"],
    ["demo", "--help"],
    ["export", "--help"],
    ["export", "--bogus"],
    ["report", "--help"],
]
"""What answers without torch: the groups' help and errors, and the commands whose options need nothing heavy
(search, train-supernet, evaluate, rank-study and data's commands take defaults and choices from torch's side)."""


def test_the_groups_help_and_argument_errors_import_no_torch():
    probe = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from nasrec.cli.main import app\n"
        f"heavy, seen = {HEAVY!r}, []\n"
        f"for args in {LIGHT!r}:\n"
        "    result = CliRunner().invoke(app, args, env={'COLUMNS': '100'})\n"
        "    loaded = sorted({m.split('.')[0] for m in sys.modules} & set(heavy))\n"
        "    seen.append([args, result.exit_code, result.output[:300], loaded])\n"
        "print(json.dumps(seen))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    seen = json.loads(out)
    assert [args for args, code, output, loaded in seen if loaded] == []  # the first to import one, and on
    assert [args for args, code, output, loaded in seen if code not in (0, 2)] == []  # 2: a usage error
    assert all("Usage: " in output or output.startswith("nasrec ") for args, code, output, loaded in seen)


def _lazy() -> list[tuple[str, object]]:
    root = typer.main.get_command(app)
    data = root.commands["data"]  # type: ignore[attr-defined]
    groups = [("", root), ("data ", data)]
    return [(f"{prefix}{name}", c) for prefix, group in groups for name, c in group.commands.items() if name != "data"]


@pytest.mark.parametrize(("name", "stand_in"), _lazy(), ids=[name for name, _ in _lazy()])
def test_a_group_lists_each_command_with_its_own_help(name, stand_in):
    """The help a group lists (read from the source) is the command's own, as typer builds it on use."""
    assert stand_in.help and stand_in.help == stand_in.load().help
    assert stand_in.load().name == name.split()[-1]
