"""The run-folder lock, between real processes: a second run on a folder in use is refused at once naming
the folder and the holder's pid; the lock of a killed process never blocks the resume."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nasrec.state import RunFolderBusy, RunLock

ROOT = Path(__file__).resolve().parents[2]


def _holder(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.state.hold_lock", str(folder)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"  # waits until it holds the lock
    return proc


@pytest.fixture
def held(tmp_path):
    folder = tmp_path / "run"
    proc = _holder(folder)
    yield folder, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    proc.stdin.close()
    proc.stdout.close()


@pytest.mark.parametrize("command", [["search"], ["rank-study"], ["train-supernet"]])
def test_a_second_command_on_a_folder_in_use_is_refused_naming_the_holder(held, command):
    folder, proc = held
    result = subprocess.run(
        [sys.executable, "-m", "nasrec", *command, "--out", str(folder)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 1
    what = {"search": "run folder", "rank-study": "rank-study folder", "train-supernet": "supernet folder"}
    assert result.stderr == (
        f"error: {what[command[0]]} {folder} is in use by process {proc.pid} "
        f"({folder / '.lock'}); wait for it to finish or use another folder\n"
    )
    assert sorted(p.name for p in folder.iterdir()) == [".lock"]  # nothing written by the refused run


def test_the_lock_of_a_killed_process_never_blocks_a_resume(held):
    folder, proc = held
    with pytest.raises(RunFolderBusy, match=rf"in use by process {proc.pid} "):
        RunLock(folder).acquire()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (folder / ".lock").read_text() == f"{proc.pid}\n"  # the stale file stays; it holds no lock
    with RunLock(folder) as lock:
        assert lock.holder() == str(os.getpid())
    second = _holder(folder)  # and another process can take it after this one let go
    second.stdin.close()
    assert second.wait() == 0
    second.stdout.close()
