"""Commands imported only when used: a group lists its commands (name, docstring read from the source) without
importing their modules, so `nasrec --help` starts without torch; a command's module is imported when the
command runs, shows its own help or reports an argument error."""

from __future__ import annotations

import ast
import copy
import functools
import importlib
import importlib.abc
import importlib.util
import inspect
from types import ModuleType
from typing import Any, cast

import typer
from typer.core import DEFAULT_MARKUP_MODE, MarkupMode, TyperCommand, TyperGroup
from typer.models import CommandInfo


class LazyCommand:
    """Stands in for the command `name` of a group until more than its name and help is asked of it (its
    options, its help page, a run): then `target` ("module:function") is imported, and its command answers."""

    hidden = deprecated = False
    short_help = rich_help_panel = None

    def __init__(self, name: str, target: str, rich_markup_mode: MarkupMode) -> None:
        self.name, self.target, self._markup = name, target, rich_markup_mode
        self._command: TyperCommand | None = None

    @functools.cached_property
    def help(self) -> str | None:
        return docstring(self.target)

    def load(self) -> TyperCommand:
        if self._command is None:
            module, _, function = self.target.partition(":")
            self._command = build(importlib.import_module(module), function, self.name, self._markup)
        return self._command

    def __getattr__(self, attr: str) -> Any:  # only what the stand-in lacks: the command's
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self.load(), attr)


def build(module: ModuleType, function: str, name: str, rich_markup_mode: MarkupMode) -> TyperCommand:
    """`module.function` as the command `name`, built by typer as the module's Typer `app` registers it where it
    does (`data prepare` keeps its raw arguments), else as `app.command(name)(fn)` would (typer's defaults)."""
    fn, app = getattr(module, function), getattr(module, "app", None)
    registered = [c for c in app.registered_commands if c.callback is fn] if isinstance(app, typer.Typer) else []
    info = copy.copy(registered[0]) if registered else CommandInfo(callback=fn)
    info.name = name
    command = typer.main.get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=rich_markup_mode)
    return cast(TyperCommand, command)  # typer's class, or the TyperCommand subclass registered (`data prepare`)


def docstring(target: str) -> str | None:
    """The docstring of `target`'s function as typer shows it (`inspect.getdoc`), read from the module's source
    without running it (only its parent packages are imported); from the imported module where no source is."""
    module, _, name = target.partition(":")
    found = _docstrings(module)
    if name in found:
        return found[name]
    return inspect.getdoc(getattr(importlib.import_module(module), name))


@functools.cache
def _docstrings(module: str) -> dict[str, str | None]:
    """Each top-level function of `module` -> its docstring, from the source ({} where there is none)."""
    spec = importlib.util.find_spec(module)
    loader = spec.loader if spec is not None else None
    source = loader.get_source(module) if isinstance(loader, importlib.abc.InspectLoader) else None
    if source is None:
        return {}
    tree = ast.parse(source)
    return {
        node.name: ast.get_docstring(node)
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def lazy_group(*entries: tuple[str, str]) -> type[TyperGroup]:
    """A typer group class (`typer.Typer(cls=lazy_group(...))`): `entries`, (name, "module:function") pairs, come
    first, each a `LazyCommand`; the commands and groups registered on the Typer app follow."""

    class LazyGroup(TyperGroup):
        def __init__(self, *, commands: dict[str, Any] | None = None, **attrs: Any) -> None:
            markup = attrs.get("rich_markup_mode", DEFAULT_MARKUP_MODE)
            lazy: dict[str, Any] = {name: LazyCommand(name, target, markup) for name, target in entries}  # stand-ins
            super().__init__(commands={**lazy, **(commands or {})}, **attrs)

    return LazyGroup
