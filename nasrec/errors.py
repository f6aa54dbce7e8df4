"""The project's own error types: what a user can cause, reported by the CLI as one line (never a traceback).

`NasrecError` marks them all: `GenotypeError` (genotype/), `DataError` (data/), `UsageError` (a bad option,
config value, file to write or run folder). Anything else that reaches the CLI is a bug and keeps its
traceback.
"""

from __future__ import annotations


class NasrecError(Exception):
    """Base of the errors a user can cause; the message is one line naming what and where."""


class UsageError(NasrecError, ValueError):
    """A bad option, config value, output path or run folder."""
