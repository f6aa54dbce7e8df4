"""Append-only JSON Lines logs that survive crashes: fsync per record, a torn last line dropped on read."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def append_jsonl(path: str | Path, record: BaseModel | dict[str, Any]) -> None:
    """Append one JSON line and fsync, so a finished record survives a crash."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = record.model_dump_json() if isinstance(record, BaseModel) else json.dumps(record)
    with open(path, "a") as fh:
        fh.write(text + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: str | Path, model: type[M]) -> list[M]:
    """Read records; a corrupt or partial LAST line (a run killed mid-write) is dropped with a warning and
    cut from the file so appending continues cleanly. A corrupt line elsewhere is an error naming it."""
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    records: list[M] = []
    offset = 0
    for i, line in enumerate(lines):
        last = all(not rest.strip() for rest in lines[i + 1:])
        if line.strip():
            try:
                records.append(model.model_validate_json(line))
            except ValidationError as exc:
                if not last:
                    raise ValueError(f"{path}, line {i + 1}: not a valid {model.__name__} record: "
                                     f"{exc.errors(include_url=False)[0]['msg']}") from None
                warnings.warn(f"{path}, line {i + 1}: dropped an incomplete last record (interrupted write)",
                              RuntimeWarning, stacklevel=2)
                with open(path, "r+b") as fh:
                    fh.truncate(offset)
                return records
        offset += len(line) + 1
    if raw and not raw.endswith(b"\n"):  # complete record, newline lost: restore it before appending
        with open(path, "ab") as fh:
            fh.write(b"\n")
    return records
