"""Whole folders written atomically: built under a temporary name beside the target and renamed into place, so
the target is whole or absent; temporaries left by processes that no longer run are cleaned up. A temporary's
name carries its machine (host name and process-id namespace) and process id: only this machine's can be known
dead, so another machine's sharing the folder (NFS, a shared volume) is never removed."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def machine_tag() -> str:
    """8 hex digits naming this machine's process ids: its host name and, where the OS shows it, its process-id
    namespace (containers on one host with one host name have separate ones)."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return hashlib.sha256(f"{socket.gethostname()}/{namespace}".encode()).hexdigest()[:8]


def temporary_name(target: Path) -> str:
    """`.<name>.tmp-<machine>-<pid>-<random>`: a new temporary's name for `target`."""
    return f".{target.name}.tmp-{machine_tag()}-{os.getpid()}-{secrets.token_hex(4)}"


_TEMPORARY = re.compile(r"\..+\.tmp-([0-9a-f]{8})-(\d+)-[0-9a-f]+")  # (machine, pid)


def is_temporary(name: str) -> bool:
    """Whether `name` is a temporary of `atomic_folder` or `atomic_open` (`temporary_name`)."""
    return _TEMPORARY.fullmatch(name) is not None


def _remove_if_dead(tmp: Path, machine: str, pid: int) -> None:
    """Remove temporary `tmp` (folder or file) if it is this machine's and its process no longer runs (this
    process's own are its live ones: `atomic_folder` and `atomic_open` remove them themselves)."""
    if machine == machine_tag() and pid != os.getpid() and not _pid_alive(pid):
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def clean_stale(target: Path) -> None:
    """Remove this machine's temporaries of `target` (folders or files) whose process no longer runs. Another
    machine's are left alone: their processes cannot be seen from here."""
    if not target.parent.is_dir():
        return
    for tmp in target.parent.glob(f".{target.name}.tmp-*"):
        m = _TEMPORARY.fullmatch(tmp.name)
        if m:
            _remove_if_dead(tmp, m.group(1), int(m.group(2)))


def clean_stale_in(folder: Path) -> None:
    """Remove this machine's dead temporaries of every target in `folder` (`clean_stale` for each), e.g. a
    cache's run killed while building an entry no later run asks for again."""
    if not folder.is_dir():
        return
    for tmp in folder.glob(".*.tmp-*"):
        m = _TEMPORARY.fullmatch(tmp.name)
        if m:
            _remove_if_dead(tmp, m.group(1), int(m.group(2)))


def _fsync_tree(root: Path) -> None:
    """fsync every file and folder under `root`, and `root`: deepest first, so a name follows its contents."""
    for path in [*sorted(root.rglob("*"), key=lambda p: -len(p.parts)), root]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yield a new empty temporary folder beside `target`; on a clean exit its files are fsynced and it is
    renamed to `target` (an empty folder there is replaced), on an error removed. A `target` filled meanwhile
    raises the rename's `OSError` (the temporary removed): the caller decides, e.g. keep another process's
    identical result."""
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target)
    tmp = target.parent / temporary_name(target)
    try:
        tmp.mkdir()
    except OSError as exc:  # name the folder asked for, not its temporary
        raise OSError(exc.errno, exc.strerror, str(target)) from exc
    try:
        yield tmp
        _fsync_tree(tmp)  # the folder's contents on disk before its name is
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
