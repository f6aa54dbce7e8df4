"""A name -> object table filled by a decorator, with plug-ins from an entry-point group (fvcore/timm style).

    SAMPLERS = Registry("sampling strategy")

    @SAMPLERS.register("single-path")
    def single_path(...): ...

    SAMPLERS.get("single-path")          # or UsageError: unknown sampling strategy 'x' (known: ...)
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from nasrec.errors import UsageError

T = TypeVar("T")


class Registry(dict[str, T], Generic[T]):
    """A dict of registered entries; `kind` names them in errors. Entry points of `group` are imported the
    first time a name is missing or the names are listed."""

    def __init__(self, kind: str, group: str | None = None) -> None:
        super().__init__()
        self.kind, self.group, self._loaded = kind, group, group is None

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self[name] = obj
            return obj

        return deco

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for ep in entry_points(group=self.group):
                ep.load()

    def get(self, name: str) -> T:  # type: ignore[override]
        if name not in self:
            self._load()
        try:
            return self[name]
        except KeyError:
            raise UsageError(f"unknown {self.kind} {name!r} (known: {', '.join(self.names())})") from None

    def names(self) -> list[str]:
        self._load()
        return list(self)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self)})"
