"""Progress of long work: a transient bar on a terminal, a line now and then in a log."""

from __future__ import annotations

import time
from typing import Any

from rich import get_console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

LINE_EVERY = 60.0
"""Seconds between the progress lines written to a log (stdout not a terminal)."""


class LineProgress:
    """`rich.progress.Progress`'s `add_task`/`update` as a plain line (`label: 12/300, loss 0.4512`) at most every
    `every` seconds, the first after `every`: a run logged to a file shows where it is, a short one prints nothing."""

    def __init__(self, every: float = LINE_EVERY, clock=time.monotonic) -> None:
        self.every, self.clock = every, clock
        self.tasks: list[dict[str, Any]] = []

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **fields: Any) -> TaskID:
        self.tasks.append({"label": description, "total": total, "done": completed, "at": self.clock(), **fields})
        return TaskID(len(self.tasks) - 1)

    def update(self, task_id: TaskID, *, advance: float | None = None, **fields: Any) -> None:
        task = self.tasks[task_id]
        task["done"] += advance or 0
        task.update(fields)
        now = self.clock()
        if now - task["at"] >= self.every:
            task["at"] = now
            of = f"/{task['total']:,.0f}" if task["total"] is not None else ""
            info = f", {task['info']}" if task.get("info") else ""
            get_console().print(f"{task['label']}: {task['done']:,.0f}{of}{info}", highlight=False, markup=False)


def progress_bar(enabled: bool) -> Progress | LineProgress:
    """A transient bar on a terminal; in a log or a pipe (where an erased bar leaves an empty line) a line a minute
    (`LineProgress`); nothing when not `enabled`."""
    if enabled and not get_console().is_terminal:
        return LineProgress()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=True,
    )
