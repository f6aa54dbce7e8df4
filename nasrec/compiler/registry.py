"""Operator registry: `@register_operator("name")` fills the name -> implementation table.

An implementation registers under a signature of the genotype catalog (`nasrec.genotype.operators`); passing
`branch=` and `reads=` adds the signature for a new operator in the same place, so validation, sampling,
mutation, the compiler and the cost model all accept it with no other edit. Third-party packages register
through the `nasrec.operators` entry-point group (each entry point names a module that uses this decorator),
loaded the first time an unknown name is looked up or the list is asked for.
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Callable, Iterable

from nasrec.compiler.base import Operator
from nasrec.genotype.operators import (
    OperatorSignature,
    get_signature,
    load_entry_points,
    register_signature,
    unregister_signature,
)

_OPERATORS: dict[str, Operator] = {}
_builtins_loaded = False


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        import nasrec.compiler.operators  # noqa: F401  (registers the built-ins)


def register_operator(
    name: str,
    branch: str | None = None,
    reads: Iterable[str] | None = None,
    description: str = "",
    overwrite: bool = False,
) -> Callable[[type[Operator]], type[Operator]]:
    """Class decorator: register an `Operator` subclass under `name`.

    Without `branch`/`reads` the name must already be in the genotype catalog; with them the signature is
    added (or checked against the catalog's). Registering a taken name raises unless `overwrite=True`,
    which warns and replaces it.
    """

    def deco(cls: type[Operator]) -> type[Operator]:
        if branch is not None or reads is not None:
            if branch is None or reads is None:
                raise ValueError(f"operator {name!r}: give both branch= and reads=, or neither")
            sig = register_signature(OperatorSignature(name, branch, frozenset(reads), description))  # type: ignore[arg-type]
        else:
            sig = get_signature(name)
        if name in _OPERATORS:
            if not overwrite:
                raise ValueError(f"operator {name!r} is already registered ({type(_OPERATORS[name]).__name__})")
            warnings.warn(f"operator {name!r} overwritten by {cls.__name__}", UserWarning, stacklevel=2)
        cls.name = name
        cls.branch = sig.branch  # type: ignore[attr-defined]
        cls.reads = sig.reads  # type: ignore[attr-defined]
        _OPERATORS[name] = cls()
        return cls

    return deco


def unregister_operator(name: str, signature: bool = True) -> None:
    """Remove an implementation (and, by default, its catalog signature): for tests of plug-ins."""
    _OPERATORS.pop(name, None)
    if signature:
        unregister_signature(name)


def get_operator(name: str) -> Operator:
    _load_builtins()
    if name not in _OPERATORS:
        load_entry_points()
    try:
        return _OPERATORS[name]
    except KeyError:
        raise KeyError(f"no implementation registered for operator {name!r} "
                       f"(known: {', '.join(sorted(_OPERATORS))})") from None


def list_operators(pattern: str = "*", branch: str | None = None) -> list[str]:
    """Registered operator names matching a wildcard pattern (and branch), sorted."""
    _load_builtins()
    load_entry_points()
    return sorted(n for n, op in _OPERATORS.items()
                  if fnmatch.fnmatch(n, pattern) and (branch is None or op.branch == branch))  # type: ignore[attr-defined]
