"""A folder's config, pinned: written (atomically) by the first run, and every later run on the folder must
bring the same one, so a resume never mixes the results of two settings."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from nasrec.errors import UsageError
from nasrec.state.files import atomic_write_text
from nasrec.state.jsonl import validation_reason


class ConfigDiffers(UsageError):
    """A folder's pinned config differs from the one brought: `differences` maps each differing field's dotted
    path to its (saved, new) values, for a caller that can say more about why."""

    def __init__(self, message: str, differences: dict[str, tuple[Any, Any]]) -> None:
        super().__init__(message)
        self.differences = differences


def pin_config(
    path: str | Path,
    config: BaseModel,
    *,
    what: str,
    key: str | None = None,
    extra: dict[str, Any] | None = None,
    ignore: Iterable[str] = (),
    grow: Iterable[str] = (),
    paths: Iterable[str] = ("data",),
    absent: dict[str, Any] | None = None,
    mirrors: dict[str, str] | None = None,
) -> dict[str, tuple[Any, Any]]:
    """Write `config` to `path` (under `key`, beside `extra`, when given) if there is none; else check that
    the saved one, read through the same model, equals `config` but for the fields in `ignore` (where and
    how work runs, not what it computes). A different one raises `ConfigDiffers` naming the fields and their
    values (`refusal`).

    `grow`: dotted paths of budgets (`strategy.options.cycles`) that `config` may raise: a run extended. The
    file is then rewritten with `config`; returns {path: (old, new)} of what grew ({} otherwise).

    `ignore` may name nested fields too (`train.guard_patience`). A difference is named by its dotted path.

    `paths`: fields (dotted for nested ones: `supernet.data`) that name a file or folder, equal when they point
    at the same place (the CLI writes absolute paths; a folder written with a relative one, as nasrec did before,
    resumes from where it resolves).

    `absent`: fields a saved config may lack, with the value that folder's runs used (what nasrec did before the
    field existed), so a folder is not resumed with a field's new default; a dotted one (`evaluator.config.x`)
    is filled in where its parent is there.

    `mirrors`: fields that copy another (`refusal`), whose values a refusal shows once."""
    path, ignore = Path(path), set(ignore)
    body = config.model_dump(mode="json")
    if not path.exists():
        atomic_write_text(path, json.dumps({key: body, **(extra or {})} if key else body, indent=2) + "\n")
        return {}
    try:
        raw = json.loads(path.read_text())
        raw = raw[key] if key else raw
        saved = type(config).model_validate(with_absent(raw, absent or {}))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        foreign = _foreign_fields(exc)
        if foreign:
            raise UsageError(
                f"{path} is not a {what} config: it has fields a {what} has not ({', '.join(foreign)}); "
                "a folder of another command? use a new folder"
            ) from None
        reason = validation_reason(exc) if isinstance(exc, ValidationError) else exc
        raise UsageError(f"{path} is not a readable {what} config ({reason}); use a new folder") from None
    new, old = body, saved.model_dump(mode="json")
    grown = {}
    for dotted in grow:
        was, now = _at(old, dotted), _at(new, dotted)
        if isinstance(was, int | float) and isinstance(now, int | float) and now > was:
            grown[dotted] = (was, now)
            _set(old, dotted, now)
    for dotted in paths:
        was, now = _at(old, dotted), _at(new, dotted)
        if was != now and same_place(now, was):
            _set(old, dotted, now)
    for dotted in ignore:  # where and how work runs: taken as the new config says
        if "." in dotted and _at(new, dotted) is not None:
            _set(old, dotted, _at(new, dotted))
    differ = [d for d in _differences(new, old) if d.split(".")[0] not in ignore]
    if differ:
        differences = {d: (_at(old, d), _at(new, d)) for d in differ}
        raise ConfigDiffers(refusal(path, what, differences, mirrors), differences)
    if grown:
        atomic_write_text(path, json.dumps({key: body, **(extra or {})} if key else body, indent=2) + "\n")
    return grown


NAMED, VALUED, WIDTH = 20, 6, 60
"""A refusal names at most `NAMED` differing fields and shows the values of the first `VALUED`, each cut to `WIDTH`
characters."""


def refusal(
    path: Path, what: str, differences: dict[str, tuple[Any, Any]], mirrors: dict[str, str] | None = None
) -> str:
    """Why a config is refused: the differing fields, and for the first few the value the folder holds and the one
    given (`space nasrec-full -> nasrec-small`), so the user sees what to change. `mirrors` maps a field that copies
    another (`supernet.seed` -> `seed`) to it: its values are shown once, under the other's name."""
    mirrors = mirrors or {}
    names = list(differences)
    shown = ", ".join(names[:NAMED]) + (f", ... ({len(names)} in all)" if len(names) > NAMED else "")
    valued = [d for d in names if d not in mirrors or differences[d] != differences.get(mirrors[d])]
    values = ", ".join(f"{d} {_value(differences[d][0])} -> {_value(differences[d][1])}" for d in valued[:VALUED])
    more = f", ... ({len(valued) - VALUED} more)" if len(valued) > VALUED else ""
    return (
        f"{path} holds another {what}'s config (different {shown}): {values}{more} (stored -> given); "
        "use a new folder or the same settings"
    )


def _value(value: Any) -> str:
    """A config value as a refusal shows it: text as written, anything else as JSON; cut to `WIDTH` characters."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"


def _differences(new: Any, old: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the leaves where `new` and `old` differ (a field named once: `strategy.options.cycles`)."""
    if isinstance(new, dict) and isinstance(old, dict):
        keys = [*new, *(k for k in old if k not in new)]
        return [p for k in keys for p in _differences(new.get(k), old.get(k), f"{prefix}{k}.")]
    return [] if new == old else [prefix.rstrip(".")]


def with_absent(raw: Any, absent: dict[str, Any]) -> Any:
    """`raw` (a saved config's JSON) with each field of `absent` it lacks set to the given value; a dotted field
    only where its parent is a dict in `raw` (a copy: `raw` is not changed)."""
    if not isinstance(raw, dict):
        return raw
    out = copy.deepcopy(raw)
    for dotted, value in absent.items():
        *parents, leaf = dotted.split(".")
        tree: Any = out
        for part in parents:
            tree = tree.get(part) if isinstance(tree, dict) else None
        if isinstance(tree, dict) and leaf not in tree:
            tree[leaf] = value
    return out


def same_place(a: Any, b: Any) -> bool:
    """Two references to the same data or file: equal, or path strings that resolve to the same existing place
    (the CLI writes absolute paths; older folders and logs hold relative ones)."""
    if a == b:
        return True
    return isinstance(a, str) and isinstance(b, str) and Path(a).exists() and Path(a).resolve() == Path(b).resolve()


def _at(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        tree = tree[part]
    tree[last] = value


def _foreign_fields(exc: Exception, most: int = 3) -> list[str]:
    """The first top-level fields a config model refused as unknown (`...` after `most`): a folder another
    command wrote, more likely than a damaged file."""
    if not isinstance(exc, ValidationError):
        return []
    names = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden" and len(e["loc"]) == 1]
    return names[:most] + (["..."] if len(names) > most else [])
