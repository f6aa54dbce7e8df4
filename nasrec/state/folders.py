"""Whole folders written atomically: built under a temporary name beside the target and renamed into place, so
the target is whole or absent; temporaries left by processes that no longer run are cleaned up."""

from __future__ import annotations

import os
import re
import secrets
import shutil
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


def clean_stale(target: Path) -> None:
    """Remove temporaries `.<name>.tmp-<pid>-*` of `target` left by processes that no longer run (this process's
    own are its live ones: `atomic_folder` removes them itself)."""
    if not target.parent.is_dir():
        return
    for tmp in target.parent.glob(f".{target.name}.tmp-*"):
        m = re.match(rf"\.{re.escape(target.name)}\.tmp-(\d+)-", tmp.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(tmp, ignore_errors=True)


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
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        yield tmp
        _fsync_tree(tmp)  # the folder's contents on disk before its name is
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
