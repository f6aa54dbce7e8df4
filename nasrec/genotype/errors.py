"""The one error type of the genotype package."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from nasrec.errors import NasrecError


class GenotypeError(NasrecError, ValueError):
    """A genotype (or a genotype file) is invalid. The message names the JSON path and the rule broken."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        self.rule = message
        super().__init__(f"{path}: {message}" if path else message)


def json_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """`("blocks", 3, "inputs", "dense", 1)` -> `blocks[3].inputs.dense[1]`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def close_to(key: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The candidate `key` is most likely a misspelling of (difflib), or None."""
    match = difflib.get_close_matches(key, list(candidates), n=1, cutoff=cutoff)
    return match[0] if match else None


def unknown_key(key: str, candidates: Iterable[str], cutoff: float = 0.6) -> str:
    """The rule for an unknown key, with a "did you mean X?" hint when it is close to one of `candidates`."""
    near = close_to(key, candidates, cutoff)
    return f"unknown key (did you mean {near}?)" if near else "unknown key"


def check_keys(
    data: dict[str, Any],
    required: Sequence[str],
    at: str = "",
    *,
    optional: Sequence[str] = (),
    missing_rule: str = "required key is missing",
    hints: dict[str, str] | None = None,
    extras_unless_close: float | None = None,
) -> None:
    """Raise a GenotypeError for the first key problem of the object `data` (at JSON path `at`): an unknown key
    close to a missing one (a misspelling, said so), a missing required key (`hints[key]` added), or an unknown
    key. With `extras_unless_close`, unknown keys are allowed unless that close (difflib ratio) to a known one."""
    known = (*required, *optional)
    missing = [k for k in required if k not in data]
    unknown = [k for k in data if k not in known]
    where = f"{at}." if at else ""
    for key in unknown:
        near = close_to(key, missing)
        if near is not None:
            raise GenotypeError(f"unknown key (did you mean {near}?)", where + key)
    if missing:
        hint = (hints or {}).get(missing[0])
        raise GenotypeError(f"{missing_rule} ({hint})" if hint else missing_rule, where + missing[0])
    for key in unknown:
        if extras_unless_close is None or close_to(key, known, extras_unless_close) is not None:
            raise GenotypeError(unknown_key(key, known), where + key)


def from_validation_error(
    exc: Any, prefix: tuple[Any, ...] = (), keys: Callable[[tuple[Any, ...]], Iterable[str]] | None = None
) -> GenotypeError:
    """Turn a pydantic ValidationError into one GenotypeError naming the first failure's JSON path. An unknown key
    and a missing one of the same object that are spelled alike count as one problem, the misspelling; `keys`
    (an object's location -> its known keys) adds "did you mean" to other unknown keys."""
    errors = exc.errors(include_url=False)
    # pydantic also reports a container as "too short" when its only items failed: not a separate problem.
    locs = [tuple(e["loc"]) for e in errors]
    errors = [
        e
        for e in errors
        if not (
            e["type"] == "too_short"
            and any(len(o) > len(e["loc"]) and o[: len(e["loc"])] == tuple(e["loc"]) for o in locs)
        )
    ]
    errors = _misspellings(errors, keys)
    first = errors[0]
    inner = (first.get("ctx") or {}).get("error")
    if isinstance(inner, GenotypeError):
        base = json_path(prefix + tuple(first["loc"]))
        sep = "." if base and inner.path and not inner.path.startswith("[") else ""
        err = GenotypeError(inner.rule, base + sep + inner.path)
    else:
        rule = _rule(first)
        err = GenotypeError(rule, json_path(prefix + tuple(first["loc"])) or "<document>")
    if len(errors) > 1:
        err = GenotypeError(f"{err.rule} (and {len(errors) - 1} more problem(s))", err.path)
    return err


def _misspellings(
    errors: list[dict[str, Any]], keys: Callable[[tuple[Any, ...]], Iterable[str]] | None
) -> list[dict[str, Any]]:
    """`errors` with each missing key and a like-spelled unknown key of the same object merged into one error at
    the unknown key, and the other unknown keys' rules given their hints."""
    extras = [e for e in errors if e["type"] == "extra_forbidden" and isinstance(e["loc"][-1], str)]
    merged: dict[int, dict[str, Any]] = {}  # id of a missing-key error -> the misspelling replacing it
    used: set[int] = set()
    for e in errors:
        if e["type"] != "missing" or not isinstance(e["loc"][-1], str):
            continue
        parent = tuple(e["loc"][:-1])
        same = {x["loc"][-1]: x for x in extras if tuple(x["loc"][:-1]) == parent and id(x) not in used}
        near = close_to(e["loc"][-1], same)
        if near is not None:
            used.add(id(same[near]))
            merged[id(e)] = {**same[near], "rule": f"unknown key (did you mean {e['loc'][-1]}?)"}
    out = []
    for e in errors:
        if id(e) in used:
            continue
        if id(e) in merged:
            e = merged[id(e)]
        elif e["type"] == "extra_forbidden" and keys is not None and isinstance(e["loc"][-1], str):
            e = {**e, "rule": unknown_key(e["loc"][-1], keys(tuple(e["loc"][:-1])))}
        out.append(e)
    return out


def _rule(error: dict[str, Any]) -> str:
    if "rule" in error:
        return str(error["rule"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "too_long":
        ctx = error.get("ctx") or {}
        return f"at most {ctx.get('max_length')} entries, got {ctx.get('actual_length')}"
    msg = str(error["msg"])
    return msg.removeprefix("Value error, ")
