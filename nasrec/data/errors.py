"""Errors a user can cause with a data file, and the bad-row report kept during parsing."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from nasrec.errors import NasrecError


class DataError(NasrecError, ValueError):
    """A data file that cannot be read as asked: one message naming the file, the line and the rule."""

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, rule: str | None = None
    ) -> None:
        where = ""
        if file is not None:
            where = f"{file}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(f"{where}{message}")
        self.file = file
        self.line = line
        self.rule = rule


BAD_FIELD_COUNT = "field count"
BAD_DENSE = "non-numeric dense value"
BAD_LABEL = "bad label"
BAD_QUOTE = "quoted field"
ON_BAD_ROWS = ("skip", "error")


class BadRow(BaseModel):
    line: int
    rule: str
    detail: str


class BadRowReport(BaseModel):
    """How many rows were skipped and why; the first `keep` of them with line numbers."""

    total: int = 0
    by_rule: dict[str, int] = Field(default_factory=dict)
    examples: list[BadRow] = Field(default_factory=list)
    keep: int = 20

    def add(self, line: int, rule: str, detail: str) -> None:
        self.total += 1
        self.by_rule[rule] = self.by_rule.get(rule, 0) + 1
        if len(self.examples) < self.keep:
            self.examples.append(BadRow(line=line, rule=rule, detail=detail))

    def summary(self, file: str, unit: str = "lines") -> str:
        """One line: how many, by rule, and the first numbers (`unit`: lines of a text file, rows of Parquet)."""
        if not self.total:
            return f"{file}: no bad rows"
        rules = ", ".join(f"{n} {r}" for r, n in sorted(self.by_rule.items()))
        lines = ", ".join(str(e.line) for e in self.examples[:10])
        more = ", ..." if self.total > 10 else ""
        return f"{file}: skipped {self.total} bad rows ({rules}); {unit} {lines}{more}"


def listed_names(names: Sequence[str], most: int = 30) -> str:
    """`names` comma-separated for a message, cut after `most` (a "header" that is a whole file without line
    feeds would otherwise be the message)."""
    shown = ", ".join(n[:80] for n in names[:most])
    return shown if len(names) <= most else f"{shown}, ... ({len(names):,} in all)"
