"""The one error type of the genotype package."""

from __future__ import annotations

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


def from_validation_error(exc: Any, prefix: tuple[Any, ...] = ()) -> GenotypeError:
    """Turn a pydantic ValidationError into one GenotypeError naming the first failure's JSON path."""
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


def _rule(error: dict[str, Any]) -> str:
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
