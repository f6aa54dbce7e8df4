"""A run folder's config, pinned: what a resumed or extended run must bring, and what it may change (where
and how work runs; a budget its strategy can raise)."""

from __future__ import annotations

import inspect
import json
import platform
from pathlib import Path
from typing import Any

import torch

import nasrec
from nasrec.errors import UsageError
from nasrec.records import RunPaths
from nasrec.search.base import STRATEGIES, growable_options
from nasrec.search.run_config import EvaluatorChoice, RunConfig, StrategyChoice
from nasrec.state import ConfigDiffers, pin_config
from nasrec.state.configs import with_absent

DISPATCH = ("executor", "ray_address", "workers", "device")
"""Where and how work runs, not what it computes: a run may resume on another executor (e.g. onto a cluster),
with more or fewer workers (no strategy's proposals depend on how many evaluations run at once: tested), or on
another device (whose float rounding then shows in the later scores: CPU and GPU differ by up to ~1e-3 of a
proxy's log loss; where the search scored by scratch training, its scores carry their device in their config,
and the top-k stage trains again those scored on another)."""

PATHS = ("data", "space", "supernet.data", "supernet.space")
"""A run config's fields that may name a file or folder (RunConfig copies `data` and `space` into `supernet`)."""


ABSENT = {"final_fresh_seeds": False, "final_protocol": "retrain", "supernet.train.checkpoint_seconds": 0}
"""Fields a folder's config may lack, with what that folder's runs did (see `pin_config`): its final stage trained
on the top-k stage's seeds and retrained every model on train + valid; its supernet was saved every
`checkpoint_every` steps, whatever the time between."""

ABSENT_NESTED: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("evaluator", "config"): {"finetune": {"max_passes": 1}},
    ("strategy", "options"): {"evolution": {"grow_ops": False}, "predictor-evolution": {"grow_ops": False}},
}
"""Per evaluator and per strategy (by name), settings a folder's config may lack, with what that folder's runs
did: `finetune`'s `paper` recipe made one pass over its rows before `max_passes` existed; evolution's operator
mutations never grew a one-operator branch before `grow_ops` existed."""

FORMER_DEFAULTS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("evaluator", "config"): {"finetune": {"valid_rows": None}, "supernet": {"valid_rows": None}},
}
"""Per evaluator and per strategy (by name), settings whose default changed, with the former default: a folder's
config that holds it, resumed by a config at today's default, keeps it. The proxies scored the whole validation
split (`valid_rows` None) before their default became 500,000 rows."""

_DEFAULT_NAMES = {"evaluator": "finetune", "strategy": "evolution"}


def absent_fields(saved: Any) -> dict[str, Any]:
    """`ABSENT`, and the `ABSENT_NESTED` fields of the evaluator and strategy `saved` (a folder's config JSON)
    names, dotted (`evaluator.config.max_passes`)."""
    return dict(ABSENT) | _nested(saved, ABSENT_NESTED)


def _nested(saved: Any, table: dict[tuple[str, str], dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """The settings `table` holds for the evaluator and strategy `saved` (a folder's config JSON) names, dotted."""
    fields: dict[str, Any] = {}
    for (part, settings), by_name in table.items():
        choice = saved.get(part) if isinstance(saved, dict) else None
        name = choice.get("name", _DEFAULT_NAMES[part]) if isinstance(choice, dict) else None
        fields |= {f"{part}.{settings}.{k}": v for k, v in by_name.get(str(name), {}).items()}
    return fields


def versions() -> dict[str, str]:
    return {"nasrec": nasrec.__version__, "torch": torch.__version__, "python": platform.python_version()}


def as_folder_ran(path: Path, config: RunConfig) -> RunConfig:
    """`config` as the run folder at `path` (its config.json) ran: a field of `ABSENT` or `ABSENT_NESTED` that
    the folder's config lacks, or one of `FORMER_DEFAULTS` it holds at its former default, takes the value that
    folder's runs used where `config` has today's default, so a run begun by an earlier nasrec resumes as it
    began. A value other than today's default is kept, and pinning then names it; today's default given
    explicitly cannot be told from one left alone, and is read as the folder ran."""
    saved = _saved(path)
    if not isinstance(saved, dict):
        return config  # no folder yet, or one pin_config will refuse with its own message
    body = config.model_dump(mode="json")
    names = {
        "evaluator": EvaluatorChoice(name=config.evaluator.name),
        "strategy": StrategyChoice(name=config.strategy.name),
    }
    defaults = RunConfig(**names).model_dump(mode="json")  # this config's evaluator and strategy, at their defaults
    absent = absent_fields(saved)
    filled = with_absent(saved, absent)  # as pinning reads the folder: a dotted field only under a parent it has
    lacks = {
        dotted: value
        for dotted, value in absent.items()
        if _get(saved, dotted) is _MISSING
        and _get(filled, dotted) is not _MISSING
        and _get(body, dotted) is not _MISSING
        and _get(body, dotted) == _get(defaults, dotted)
    }
    lacks |= {
        dotted: value
        for dotted, value in _nested(saved, FORMER_DEFAULTS).items()
        if _get(saved, dotted) == value
        and _get(body, dotted) not in (_MISSING, value)
        and _get(body, dotted) == _get(defaults, dotted)
    }
    return _with(body, lacks) if lacks else config


_MISSING = object()


def _get(tree: Any, dotted: str) -> Any:
    """The value at a dotted path of JSON, or `_MISSING`."""
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return _MISSING
        tree = tree[part]
    return tree


def _with(body: dict[str, Any], values: dict[str, Any]) -> RunConfig:
    """The run config `body` (JSON) with each dotted field of `values` set."""
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        tree = body
        for part in parents:
            tree = tree[part]
        tree[leaf] = value
    return RunConfig.model_validate(body)


def _saved(path: Path) -> Any:
    """The run config a folder's config.json holds, as JSON (None where there is none or it is unreadable)."""
    try:
        return json.loads(path.read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def finished_as_given(paths: RunPaths, config: RunConfig) -> bool:
    """Whether the folder at `paths` holds a finished run (its summary) with `config`'s strategy: a rerun then
    evaluates nothing (a raised budget would extend it)."""
    saved = _saved(paths.config)
    theirs = saved.get("strategy") if isinstance(saved, dict) else None
    return paths.summary.is_file() and theirs == config.strategy.model_dump(mode="json")


def growable_as_folder_ran(path: Path, strategy: str, options: dict[str, Any]) -> dict[str, Any]:
    """`options` given on a rerun, with each growable option they leave out at the value the folder at `path`
    (its config.json) ran with: only a value given extends a run. (Left out, the option's default would grow a
    finished run of 6 evaluations to 2,048, and the first value would then be refused.)"""
    saved = _saved(path)
    theirs = saved.get("strategy") if isinstance(saved, dict) else None
    if not isinstance(theirs, dict) or theirs.get("name") != strategy or not isinstance(theirs.get("options"), dict):
        return options
    ran = theirs["options"]
    growable = growable_options(strategy, {**ran, **options})
    return {**{k: ran[k] for k in growable if k in ran and k not in options}, **options}


def pin_run_config(path: Path, config: RunConfig) -> dict[str, tuple[Any, Any]]:
    """Pin `config` to the run folder's `path` (config.json); a rerun may raise the strategy's budget
    (`GROWABLE`, as its options allow): the run is extended. Returns {dotted option: (old, new)} of what grew."""
    strategy = config.strategy
    grow = [f"strategy.options.{name}" for name in growable_options(strategy.name, strategy.options)]
    try:
        return pin_config(
            path,
            config,
            what="run",
            key="config",
            extra={"versions": versions()},
            ignore=DISPATCH,
            grow=grow,
            paths=PATHS,
            absent=absent_fields(_saved(path)),
            mirrors=MIRRORS,
        )
    except ConfigDiffers as exc:
        _refuse_blocked_growth(path, config, exc.differences)  # a clearer refusal where it applies
        raise


MIRRORS = {"supernet.data": "data", "supernet.space": "space", "supernet.train.seed": "seed"}
"""The run's own fields RunConfig copies into its supernet's config: a difference there is the run's, shown once."""


def _refuse_blocked_growth(path: Path, config: RunConfig, differences: dict[str, tuple[Any, Any]]) -> None:
    """Say why, where the only differences from the folder's run are budgets raised that its strategy may raise
    in general (`GROWABLE`) but not with these options (`growable(options)`, e.g. evolution's mutation schedule)."""
    strategy = config.strategy
    factory = STRATEGIES.get(strategy.name)
    blocked = set(getattr(factory, "GROWABLE", ())) - set(growable_options(strategy.name, strategy.options))
    prefix = "strategy.options."
    raised = {d.removeprefix(prefix): v for d, v in differences.items() if d.startswith(prefix)}
    if not raised or len(raised) < len(differences) or not set(raised) <= blocked:
        return
    if all(isinstance(old, int | float) and isinstance(new, int | float) and new > old for old, new in raised.values()):
        what = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in sorted(raised.items()))
        why = " ".join((inspect.getdoc(getattr(factory, "growable", None)) or "").split())
        raise UsageError(
            f"{path}: this run cannot be extended ({what}) with its {strategy.name} options: {why} Use a new "
            "folder or the same settings."
        )
