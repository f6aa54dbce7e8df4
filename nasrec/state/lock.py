"""One process per run folder: an OS file lock (`filelock`, flock on Unix) holding the owner's pid.

The kernel drops the lock when its process dies, however it dies, so a lock left by a killed run never
blocks the resume; a second process on a folder in use is refused at once with the holder's pid."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from nasrec.errors import UsageError

LOCK_NAME = ".lock"


class RunFolderBusy(UsageError):
    """Another live process holds the run folder's lock."""


def _write_pid(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


class RunLock:
    """`with RunLock(folder):` holds `folder/.lock` (the folder is created) or raises `RunFolderBusy`."""

    def __init__(self, folder: str | Path, what: str = "run folder") -> None:
        self.folder, self.what = Path(folder), what
        self.path = self.folder / LOCK_NAME
        self._lock = FileLock(self.path, timeout=0, on_acquired=_write_pid)

    def holder(self) -> str:
        """The pid written by the process holding the lock ("unknown" if it has not written it yet)."""
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def acquire(self) -> RunLock:
        if self.folder.exists() and not self.folder.is_dir():
            raise UsageError(f"{self.what} {self.folder} is a file, not a folder; choose another path")
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            raise RunFolderBusy(
                f"{self.what} {self.folder} is in use by process {self.holder()} "
                f"({self.path}); wait for it to finish or use another folder"
            ) from None
        return self

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
