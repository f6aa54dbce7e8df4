"""SIGTERM (Slurm, Kubernetes, `timeout`, `kill`) stops a run-folder command as Ctrl-C does: one line saying the
finished work is kept, exit code 130; with Ray too (whose start replaces the handler), and without Ray's lines."""

import os
import signal
import subprocess
import sys

import pytest


@pytest.mark.parametrize("ray", [False, True])
def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path, ray):
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"COLUMNS": "200"}
    cmd = [sys.executable, "-m", "tests.cli.sigterm_script", str(out), *(["--ray"] * ray)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert (proc.returncode, stderr) == (
        130,
        f"interrupted: finished work is kept in {out}; run the same command again to go on\n",
    )
