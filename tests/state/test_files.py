"""Atomic writes: whole files or nothing, with the mode a plain open() gives under the user's umask."""

import os
import stat
import subprocess
import sys

import pytest
import torch

from nasrec.evaluators.checkpoint import load_checkpoint, save_checkpoint
from nasrec.genotype import load, sample, save
from nasrec.state import atomic_open, atomic_write_bytes, atomic_write_text
from nasrec.state.folders import machine_tag
from nasrec.viz.render import render


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_files_get_0644_under_umask_022(tmp_path, umask_022):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    g = sample("nasrec-full", rng=0)
    written = [
        atomic_write_text(tmp_path / "a.txt", "hello"),
        save(g, tmp_path / "g.json"),
        save_checkpoint({"w": torch.ones(2)}, tmp_path / "c.pt"),
        render(g, tmp_path / "g.dot"),
    ]
    assert _mode(plain) == 0o644 and [_mode(p) for p in written] == [0o644] * 4  # as open() gives
    assert (tmp_path / "a.txt").read_text() == "hello" and load(tmp_path / "g.json") == g
    assert torch.equal(load_checkpoint(tmp_path / "c.pt")["w"], torch.ones(2))


def test_umask_077_gives_0600_and_a_replaced_file_keeps_its_mode(tmp_path):
    old = os.umask(0o077)
    try:
        assert _mode(atomic_write_text(tmp_path / "private.txt", "x")) == 0o600
    finally:
        os.umask(old)
    shared = tmp_path / "shared.txt"
    shared.write_text("old")
    shared.chmod(0o664)
    atomic_write_text(shared, "new")
    assert shared.read_text() == "new" and _mode(shared) == 0o664


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_open(path) as fh:
        fh.write("half")
        raise RuntimeError("boom")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]
    with pytest.raises(ValueError, match=r"mode 'w' or 'wb', got 'a'"), atomic_open(path, "a"):
        pass


def test_a_device_is_written_directly_and_a_link_through_to_its_target(tmp_path):
    atomic_write_text("/dev/null", "discarded")  # no temporary beside it, no rename over it
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    target, link = tmp_path / "target.txt", tmp_path / "link.txt"
    target.write_text("old")
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.txt", "target.txt"]


def test_a_temporary_left_by_a_killed_write_is_removed_by_the_next_write(tmp_path):
    """A write killed before its rename leaves its temporary (a checkpoint's can be gigabytes): named with its
    machine and process, it is removed by the next write of that file here; a live process's is kept."""
    here = machine_tag()
    dead = tmp_path / f".checkpoint.pt.tmp-{here}-999999999-deadbeef"  # no such pid
    alive = tmp_path / f".checkpoint.pt.tmp-{here}-1-cafecafe"  # pid 1 runs
    for t in (dead, alive):
        t.write_bytes(b"half a checkpoint")
    atomic_write_bytes(tmp_path / "checkpoint.pt", b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name, "checkpoint.pt"]
    assert (tmp_path / "checkpoint.pt").read_bytes() == b"whole"


@pytest.mark.parametrize("redirect", [">", ">>"])
def test_dev_stdout_is_the_stream_the_shell_opened(tmp_path, redirect):
    # `-o /dev/stdout` into a pipe failed ("No such file or directory": the link resolved to 'pipe:[N]'), and
    # into a file the shell appends to it replaced that file: what the file held before was lost
    write = "from nasrec.state import atomic_write_text as w; w('/dev/stdout', 'written\\n')"
    piped = subprocess.run(f'{sys.executable} -c "{write}" | cat', shell=True, capture_output=True, text=True)
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, "written\n", "")
    out = tmp_path / "out.txt"
    out.write_text("kept\n")
    subprocess.run(f'{sys.executable} -c "{write}" {redirect} {out}', shell=True, check=True)
    assert out.read_text() == ("written\n" if redirect == ">" else "kept\nwritten\n")
