"""The .npy files of a prepared folder: written block by block (`NpyAppender`), memory-mapped back with their
shapes checked against the folder's metadata (`load_checked`)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np


class NpyAppender:
    """Write a .npy file row-block by row-block without knowing the row count in advance."""

    def __init__(self, path: Path, dtype: np.dtype | type, row_shape: tuple[int, ...] = ()) -> None:
        self.path, self.dtype, self.row_shape, self.rows = path, np.dtype(dtype), row_shape, 0
        self.file = open(path, "wb")  # noqa: SIM115 (the appender owns the file; close() ends it)
        self.header_len = len(self._header(10**15))
        self.file.write(self._header(10**15))

    def _header(self, rows: int) -> bytes:
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buf,
            {
                "descr": np.lib.format.dtype_to_descr(self.dtype),
                "fortran_order": False,
                "shape": (rows, *self.row_shape),
            },
        )
        return buf.getvalue()

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        self.file.write(block.tobytes())
        self.rows += len(block)

    def close(self) -> None:
        header = self._header(self.rows)
        if len(header) != self.header_len:  # numpy pads headers for growth; this should not happen
            raise RuntimeError("npy header changed length")
        self.file.seek(0)
        self.file.write(header)
        self.file.close()


def load_checked(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """`path` memory-mapped (no pickle), its shape checked against `shape` (rows from meta.json, widths from
    spec.json): only the header is read. A mismatched or cut-short file is a `ValueError` naming the file and both
    lengths."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:  # e.g. a file cut short: fewer bytes than its header's shape needs
        held = _rows_held(path)
        if held is None or held >= shape[0]:
            raise ValueError(f"{path.name}: {exc}") from None
        raise ValueError(f"{path.name} holds {held:,} rows (cut short), meta.json records {shape[0]:,}") from None
    if array.ndim == 0 or array.shape[0] != shape[0]:
        rows = f"{array.shape[0]:,} rows" if array.ndim else "no rows (a scalar)"
        raise ValueError(f"{path.name} has {rows}, meta.json records {shape[0]:,}")
    if array.shape != shape:
        why = " (meta.json's rows, spec.json's features)" if len(shape) > 1 else ""
        raise ValueError(f"{path.name} has shape {list(array.shape)}, expected {list(shape)}{why}")
    return array


def _rows_held(path: Path) -> int | None:
    """How many whole rows `path`'s bytes hold after its header (None where the header cannot be read)."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                return None
            start = f.tell()
        row = dtype.itemsize * math.prod(shape[1:])
        return (path.stat().st_size - start) // row if shape and row and not dtype.hasobject else None
    except (OSError, ValueError):
        return None
