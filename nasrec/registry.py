"""The one registry of nasrec: a name -> entry table filled by a decorator (or a call), with plug-ins from an
entry-point group, in the manner of fvcore's and timm's. Every table of named things uses it: operator
signatures (`nasrec.genotype.operators.OPERATORS`), operator implementations
(`nasrec.compiler.registry.IMPLEMENTATIONS`), samplers, mutations, search strategies and evaluators.

    SAMPLERS = Registry("sampler")

    @SAMPLERS.register("single-path")
    def single_path(...): ...

    SAMPLERS.get("single-path")          # or UnknownNameError: unknown sampler 'x' (known: ...)
    SAMPLERS.get("x", None)              # with a default, as dict.get: None
    SAMPLERS.names("single-*")           # registered names matching a wildcard pattern
"""

from __future__ import annotations

import fnmatch
import warnings
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar, overload

from nasrec.errors import UsageError

T = TypeVar("T")
D = TypeVar("D")
_MISSING: Any = object()


class UnknownNameError(UsageError, LookupError):
    """A name no registry entry has; the message lists the known ones (the same words for every registry)."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind, self.name, self.known = kind, name, known
        super().__init__(f"unknown {kind} {name!r} (known: {', '.join(known) or 'none'})")


class Registry(dict[str, T], Generic[T]):
    """Registered entries by name; `kind` names them in messages. The modules of entry-point `group` are
    imported the first time a name is missing or the names are listed."""

    def __init__(self, kind: str, group: str | None = None) -> None:
        super().__init__()
        self.kind, self.group, self._loaded = kind, group, group is None

    def register(self, name: str, obj: T = _MISSING, *, overwrite: bool = False) -> Any:
        """`@registry.register("name")` or `registry.register("name", obj)`. A taken name raises, unless
        `overwrite` (which warns and replaces the entry)."""

        def add(entry: T) -> T:
            if name in self:
                if not overwrite:
                    raise ValueError(f"{self.kind} {name!r} is already registered")
                warnings.warn(f"{self.kind} {name!r} overwritten", UserWarning, stacklevel=3)
            self[name] = entry
            return entry

        return add if obj is _MISSING else add(obj)

    def unregister(self, name: str) -> None:
        """Remove an entry if present (for tests of plug-ins)."""
        self.pop(name, None)

    def load_plugins(self) -> None:
        """Import every module of the entry-point group, once."""
        if not self._loaded and self.group is not None:
            self._loaded = True
            for ep in entry_points(group=self.group):
                ep.load()

    @overload  # type: ignore[override]  # unlike dict.get: without a default, an unknown name raises
    def get(self, name: str) -> T: ...
    @overload
    def get(self, name: str, default: D) -> T | D: ...

    def get(self, name: str, default: Any = _MISSING) -> Any:
        """The entry registered as `name` (the entry-point group's plug-ins loaded first if it is missing). An
        unknown name raises `UnknownNameError`, listing the known ones; given a `default`, it returns that instead,
        as `dict.get` does."""
        if name not in self:
            self.load_plugins()
        if name in self:
            return self[name]
        if default is not _MISSING:
            return default
        raise UnknownNameError(self.kind, name, self.names())

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a wildcard pattern, in registration order."""
        self.load_plugins()
        return [n for n in self if fnmatch.fnmatchcase(n, pattern)]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self) or 'empty'})"
