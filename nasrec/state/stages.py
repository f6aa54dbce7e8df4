"""A resumable stage: records appended to a JSONL log as they finish, keyed so that a restarted stage
skips what is logged and does only the rest."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel

from nasrec.state.jsonl import append_jsonl, read_jsonl, repair_jsonl

K = TypeVar("K", bound=Hashable)
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class Stage(Generic[K, M]):
    """The log at `path` of `model` records, each known by `key(record)`. Opening it repairs a torn last
    line (the writer was killed) so appending continues cleanly; open a stage only while holding the run's
    lock. Records are kept in log order."""

    def __init__(self, path: str | Path, model: type[M], key: Callable[[M], K]) -> None:
        self.path, self.model, self.key = Path(path), model, key
        repair_jsonl(self.path, model)
        self.records: dict[K, M] = {}
        for record in read_jsonl(self.path, model):
            self.records.setdefault(key(record), record)

    def __len__(self) -> int:
        return len(self.records)

    def __contains__(self, key: object) -> bool:
        return key in self.records

    def get(self, key: K) -> M | None:
        return self.records.get(key)

    def add(self, record: M) -> M:
        """Append `record` to the log (fsync) and remember it."""
        append_jsonl(self.path, record)
        self.records[self.key(record)] = record
        return record

    def run(
        self,
        items: Iterable[T],
        key: Callable[[T], K],
        make: Callable[[T], M],
        kept: Callable[[T], None] | None = None,
    ) -> list[M]:
        """The record of every item, in item order: from the log when there, else `make(item)`, appended
        at once (so a killed stage loses at most the item in progress). `kept(item)`, e.g. deleting what `make`
        kept so that a kill before the append could read its work back, runs once the item is logged; for an item
        found logged, after the last item (a kill between an append and `kept` leaves nothing behind for good)."""
        out, logged = [], []
        for item in items:
            done = self.records.get(key(item))
            if done is None:
                done = self.add(make(item))
                if kept is not None:
                    kept(item)
            else:
                logged.append(item)
            out.append(done)
        if kept is not None:
            for item in logged:
                kept(item)
        return out
