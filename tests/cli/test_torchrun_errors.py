"""Under torchrun, a refusal only rank 0 can make (its folder holds another supernet's config) ends every rank
with the same one-line error, not rank 0's line under the other ranks' tracebacks."""

import os
import subprocess

import pytest

from tests.cli.invoke import nasrec
from tests.evaluators.test_distributed import TORCHRUN


@pytest.mark.e2e
def test_a_refusal_on_rank_0_ends_every_rank_with_its_one_line(tmp_path, tiny_space_file):
    out = tmp_path / "supernet"
    flags = ["--data", "sample:criteo", "--space", tiny_space_file, "--out", str(out), "--cap", "5000"]
    flags += ["--epochs", "0.05", "--batch-size", "256"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NASREC_CACHE": str(tmp_path / "cache"), "COLUMNS": "200"}
    assert nasrec("train-supernet", *flags, "--lr", "0.03").exit_code == 0  # a supernet of its own settings
    expected = nasrec("train-supernet", *flags, "--lr", "0.5")  # one process: the refusal
    assert expected.exit_code == 1 and expected.stderr.startswith("error: ") and expected.stderr.count("\n") == 1
    cmd = [TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "nasrec", "train-supernet", *flags, "--lr", "0.5"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert [line for line in proc.stderr.splitlines() if line.startswith(("error:", "[rank"))] == [
        expected.stderr.rstrip("\n")
    ] * 2, proc.stderr[-3000:]
