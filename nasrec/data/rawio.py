"""Streaming access to raw files: plain or gzip (detected by magic bytes), read in chunks of whole lines."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

from nasrec.data.errors import DataError

CHUNK_BYTES = 8 << 20


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def open_raw(path: str | Path) -> tuple[BinaryIO, BinaryIO]:
    """(stream of decompressed bytes, underlying file) — the latter's `tell()` measures progress."""
    path = Path(path)
    if not path.is_file():
        raise DataError("a folder, not a file" if path.is_dir() else "no such file", file=str(path))
    raw = open(path, "rb")  # noqa: SIM115 (returned to the caller, who closes it)
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb")), raw
    raw.seek(0)
    return raw, raw


def file_digest(path: str | Path) -> str:
    """blake2b of the file's bytes (as stored, compressed or not)."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        while block := f.read(4 << 20):
            h.update(block)
    return h.hexdigest()


MAX_LINE_BYTES = 64 << 20
"""A line longer than this (64 MiB) stops the reading: a file with no line feeds would be held whole."""


def _too_long(path: Path, line: int, head: bytes) -> DataError:
    hint = " (its lines end in CR alone: convert them to LF or CRLF)" if b"\r" in head else ""
    return DataError(
        f"a line longer than {MAX_LINE_BYTES:,} bytes: not a line-oriented text file{hint}",
        file=str(path),
        line=line,
        rule="line length",
    )


def iter_chunks(
    path: str | Path, *, chunk_bytes: int = CHUNK_BYTES, on_progress: Callable[[int], None] | None = None
) -> Iterator[tuple[int, bytes]]:
    """Yield (1-based number of the chunk's first line, bytes of whole lines each ending in b"\\n").

    A last line without a newline gets one. A damaged or cut-short gzip stream raises `DataError` (naming no
    line: decompression fails somewhere in a chunk, not at a known line).
    """
    path = Path(path)
    stream, raw = open_raw(path)
    line_no = 1
    tail = b""
    try:
        while True:
            try:
                block = stream.read(chunk_bytes)
            except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as e:
                raise _damaged(path, e) from None
            if on_progress is not None:
                on_progress(raw.tell())
            if not block:
                break
            block = tail + block
            cut = block.rfind(b"\n") + 1
            tail = block[cut:]
            if len(tail) > MAX_LINE_BYTES:
                raise _too_long(path, line_no + block.count(b"\n", 0, cut), tail)
            if cut:
                body = block[:cut]
                yield line_no, body
                line_no += body.count(b"\n")
        if tail:
            yield line_no, tail + b"\n"
    finally:
        stream.close()
        if raw is not stream:
            raw.close()


def read_first_line(path: str | Path) -> tuple[bytes, int]:
    """The first line (without its newline) and the byte length of the file's content prefix read."""
    stream, raw = open_raw(path)
    try:
        try:
            line = stream.readline(MAX_LINE_BYTES + 1)
        except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as e:
            raise _damaged(path, e) from None
    finally:
        stream.close()
        if raw is not stream:
            raw.close()
    if len(line) > MAX_LINE_BYTES:
        raise _too_long(Path(path), 1, line)
    return line.rstrip(b"\r\n"), len(line)


def _damaged(path: Path | str, exc: Exception) -> DataError:
    return DataError(f"compressed stream is damaged or cut short ({exc})", file=str(path), rule="gzip")
