"""Append-only JSON Lines logs that survive crashes.

`append_jsonl` writes one record per line and fsyncs it. A process killed mid-append leaves a torn last
line, without its newline and not JSON: `read_jsonl` skips it and never changes the file; `repair_jsonl` (the
explicit step a resuming writer takes before appending) cuts it off with a warning. A bad line anywhere else —
a complete last line included, with or without its newline, e.g. a record of a newer version — is an error
naming it.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from nasrec.errors import UsageError

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


@dataclass
class Scan(Generic[M]):
    """What a log holds: its valid records, the 1-based numbers of invalid lines (with the first error),
    and where a torn last line starts (None when the log ends cleanly)."""

    records: list[M] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)
    first_error: str = ""
    torn_at: int | None = None
    missing_newline: bool = False


def validation_reason(exc: ValidationError) -> str:
    """The first error of a pydantic validation, with the field it is about: `top_k: Input should be ...`."""
    err = exc.errors(include_url=False)[0]
    where = ".".join(map(str, err["loc"]))
    return f"{where}: {err['msg']}" if where else str(err["msg"])


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:  # JSONDecodeError, or bytes that are not UTF-8
        return False
    return True


def scan_jsonl(raw: bytes, model: type[M]) -> Scan[M]:
    """Parse log bytes without judging them: every line that is a valid `model` record, and the rest."""
    scan: Scan[M] = Scan()
    lines = raw.split(b"\n")
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    offset = 0
    for i, line in enumerate(lines):
        if line.strip():
            try:
                scan.records.append(model.model_validate_json(line))
            except ValidationError as exc:
                if i == last and i == len(lines) - 1 and not _is_json(line):  # an append killed midway
                    scan.torn_at = offset  # never wrote its closing brace and newline
                else:
                    scan.bad_lines.append(i + 1)
                    # pydantic places a JSON error within the line ("at line 1 column 5"): the line is named
                    reason = re.sub(r" at line 1 column \d+$", "", validation_reason(exc))
                    scan.first_error = scan.first_error or reason
        offset += len(line) + 1
    scan.missing_newline = scan.torn_at is None and bool(raw) and not raw.endswith(b"\n")
    return scan


def read_jsonl(path: str | Path, model: type[M]) -> list[M]:
    """The records of a log (none when it does not exist). A torn last line (a writer killed, or still
    writing) is skipped; the file is never changed. A bad line elsewhere raises `UsageError` naming it."""
    path = Path(path)
    if not path.exists():
        return []
    scan = scan_jsonl(path.read_bytes(), model)
    if scan.bad_lines:
        raise UsageError(
            f"{path}, line {scan.bad_lines[0]}: not a valid {model.__name__} record: {scan.first_error}; fix or delete "
            "that line"
        )
    return scan.records


def repair_jsonl(path: str | Path, model: type[M]) -> bool:
    """Make a log safe to append to: cut a torn last line (with a RuntimeWarning naming it) and restore
    a lost final newline. Returns whether the file changed. Call it only while holding the run's lock."""
    path = Path(path)
    if not path.exists():
        return False
    raw = path.read_bytes()
    scan = scan_jsonl(raw, model)
    if scan.bad_lines:  # not the log of an interrupted write: left as it is, for `read_jsonl` to name
        return False
    if scan.torn_at is not None:
        line = raw[: scan.torn_at].count(b"\n") + 1
        warnings.warn(
            f"{path}, line {line}: dropped an incomplete last record (interrupted write)", RuntimeWarning, stacklevel=2
        )
        with open(path, "r+b") as fh:
            fh.truncate(scan.torn_at)
            os.fsync(fh.fileno())
        return True
    if scan.missing_newline:  # a complete record whose newline was lost
        with open(path, "ab") as fh:
            fh.write(b"\n")
            os.fsync(fh.fileno())
        return True
    return False
