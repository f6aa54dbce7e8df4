"""Atomic file writes: a temporary file in the same folder, fsync, rename. Readers never see half a file,
and the file gets the mode a plain `open(path, "w")` would give it (an existing file keeps its mode, a new
one 0666 less the umask), not the 0600 of `tempfile.mkstemp`. A symbolic link is written through (its target
replaced, the link kept), a device or pipe written directly, and `/dev/stdout` (`/dev/fd/N`, `/proc/self/fd/N`)
appended to: it is whatever the shell opened, a pipe or a file of its `>>`. A temporary is named like
`atomic_folder`'s (machine and process id), and one that a killed process left behind is removed by the next
write of the same file on that machine."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from nasrec.state.folders import clean_stale, temporary_name

STREAM = re.compile(r"/(dev/(stdout|stderr|fd/\d+)|proc/(self|\d+)/fd/\d+)")
"""Paths naming an open file descriptor rather than a file: written in place, never replaced."""


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file to write `path` through (`mode` "w" or "wb"); on a clean exit it is fsynced
    and renamed over `path`, on an error removed, leaving `path` as it was."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', got {mode!r}")
    path = Path(path)
    if STREAM.fullmatch(str(path.absolute())):  # a stream this process holds open (a pipe, a shell's `>` or `>>`)
        with open(path, "a" if mode == "w" else "ab") as fh:  # appended: reopening with "w" would truncate it
            yield fh
        return
    if path.is_symlink():  # write the file it points at; the link stays
        path = path.resolve()
    if path.exists() and not path.is_file() and not path.is_dir():  # a device or a named pipe (e.g. /dev/null)
        with open(path, mode) as fh:
            yield fh
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path)
    tmp = path.with_name(temporary_name(path))
    fh = os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), mode)  # the umask applies
    try:
        with fh:
            if path.exists():  # replacing a file keeps its mode, as open() would
                os.chmod(tmp, path.stat().st_mode & 0o7777)
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically (see `atomic_open`)."""
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically (see `atomic_open`)."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)
