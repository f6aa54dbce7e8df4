"""The CLI starts without the heavy optional imports: every command pays for what it imports at start-up."""

from __future__ import annotations

import subprocess
import sys


def test_the_cli_imports_neither_scipy_nor_the_optional_extras_at_start_up():
    probe = (
        "import sys, nasrec.cli.main\n"
        "heavy = ('scipy', 'optuna', 'ray', 'graphviz', 'onnx', 'pyarrow', 'tensorboard')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
