"""Shared CLI helpers: one-line errors, genotype references (files, `zoo:` names)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> None:
    """Print one line `error: ...` on stderr and exit with `code` (no traceback)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def user_errors(fn: F) -> F:
    """Turn the errors a user can cause (bad files, bad values) into one-line messages."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except (ValueError, OSError, RuntimeError) as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


def load_genotype(ref: str, fmt: str = "auto"):
    """A genotype from a file path (our JSON or a NasRec-ref file) or `zoo:<name>`; errors name the file."""
    from nasrec.genotype import io
    from nasrec.genotype.errors import GenotypeError

    if ref.startswith("zoo:"):
        from nasrec.genotype.zoo import load_zoo

        return load_zoo(ref[4:])
    try:
        return io.load(ref, fmt)
    except GenotypeError as exc:
        raise GenotypeError(f"{ref}: {exc}") from None


def write_or_print(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        from nasrec.genotype.io import atomic_write_text

        atomic_write_text(out, text if text.endswith("\n") else text + "\n")
        err_console.print(f"wrote {out}", highlight=False)
