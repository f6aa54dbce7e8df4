"""Data-parallel supernet training with torchrun (gloo, CPU) against one process on the same global batches,
and device selection."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nasrec.evaluators.checkpoint import load_checkpoint
from nasrec.evaluators.distributed import DataParallel, resolve_device

WORKER = Path(__file__).with_name("ddp_worker.py")
TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"


def _torchrun(tmp_path: Path, space: str, out: Path, ranks: Path, *extra: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NASREC_CACHE": str(tmp_path / "cache")}
    cmd = [TORCHRUN, "--standalone", "--nproc_per_node=2", str(WORKER), space, str(out), str(ranks), *extra]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _single(tmp_path: Path, space: str, out: Path, ranks: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", NASREC_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run(
        [sys.executable, str(WORKER), space, str(out), str(ranks)], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.e2e
def test_torchrun_two_ranks_match_each_other_and_one_process(tmp_path, tiny_space_file):
    _torchrun(tmp_path, tiny_space_file, tmp_path / "ddp", tmp_path / "ddp-ranks")
    _single(tmp_path, tiny_space_file, tmp_path / "one", tmp_path / "one-ranks")
    r0, r1 = (torch.load(tmp_path / "ddp-ranks" / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    single = torch.load(tmp_path / "one-ranks" / "rank0.pt", weights_only=True)
    assert r0.keys() == r1.keys() == single.keys()
    for name in r0:  # the ranks hold bit-identical parameters
        assert torch.equal(r0[name], r1[name]), name
    # one process on the same 46 global batches of 256 rows: equal up to float summation order
    worst = max((r0[n] - single[n]).abs().max().item() for n in r0 if r0[n].is_floating_point())
    assert worst < 1e-4, worst
    moved = sum(not torch.equal(r0[n], single[n]) for n in r0)
    assert moved > 0  # float rounding differs somewhere: the two runs really are separate computations
    # only rank 0 wrote the run folder, and its checkpoint is the ranks' final state
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == [
        ".lock",
        "checkpoint.pt",
        "config.json",
        "training.json",
    ]
    saved = load_checkpoint(tmp_path / "ddp" / "checkpoint.pt")
    assert saved["step"] == 46
    assert all(torch.equal(saved["model"][n], r0[n]) for n in saved["model"])


@pytest.mark.e2e
def test_torchrun_resumes_to_the_uninterrupted_result(tmp_path, tiny_space_file):
    out = tmp_path / "ddp"
    _torchrun(tmp_path, tiny_space_file, out, tmp_path / "part", "15")
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 15
    _torchrun(tmp_path, tiny_space_file, out, tmp_path / "resumed")
    trained = [int((tmp_path / "resumed" / f"steps{r}.txt").read_text()) for r in (0, 1)]
    assert trained == [46 - 15] * 2  # both ranks resumed at step 15, not trained again from step 0
    _torchrun(tmp_path, tiny_space_file, tmp_path / "straight", tmp_path / "straight-ranks")
    a = torch.load(tmp_path / "resumed" / "rank1.pt", weights_only=True)
    b = torch.load(tmp_path / "straight-ranks" / "rank1.pt", weights_only=True)
    assert all(torch.equal(a[n], b[n]) for n in a)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="--device must be cpu, cuda, cuda:N or auto, got 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="--device cuda: CUDA is not available on this machine"):
            resolve_device("cuda")


def test_single_process_is_not_distributed(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    dp = DataParallel.from_env(torch.device("cpu"))
    assert (dp.enabled, dp.is_main, dp.check_batch(512)) == (False, True, 512)
    with pytest.raises(ValueError, match="batch size 511 does not split over 2 processes; use a multiple of 2"):
        DataParallel(rank=0, world_size=2).check_batch(511)


@pytest.mark.e2e
def test_the_documented_torchrun_command(tmp_path, tiny_space_file):
    """`torchrun --standalone --nproc_per_node=2 -m nasrec train-supernet ...`, as the README shows it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NASREC_CACHE": str(tmp_path / "cache"), "COLUMNS": "200"}
    out = tmp_path / "supernet"
    cmd = [
        TORCHRUN,
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "nasrec",
        "train-supernet",
        "--data",
        "sample:criteo",
        "--space",
        tiny_space_file,
        "--out",
        str(out),
        "--epochs",
        "0.5",
        "--lr",
        "0.03",
        "--batch-size",
        "256",
        "--cap",
        "5000",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("supernet checkpoint:") == 1  # rank 0 alone reports
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 23
