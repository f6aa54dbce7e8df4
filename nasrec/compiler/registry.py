"""Operator implementations: `@register_operator("name")` puts an `Operator` into `IMPLEMENTATIONS`.

An implementation registers under an operator signature (`nasrec.genotype.operators.OPERATORS`); giving
`branch=`, `reads=` and `label=` declares the signature in the same place, so a plug-in operator is one file
and validation, sampling, mutation, the compiler, the cost model and the renderer all accept it. Plug-in
packages list that module in the `nasrec.operators` entry-point group, loaded the first time an unknown name
is looked up or the names are listed. The built-ins (nasrec/compiler/operators/) are imported with
`nasrec.compiler`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from nasrec.compiler.base import Operator
from nasrec.genotype.operators import (
    ENTRY_POINT_GROUP,
    OPERATORS,
    OperatorSignature,
    get_signature,
    register_signature,
)
from nasrec.registry import Registry, UnknownNameError

IMPLEMENTATIONS: Registry[Operator] = Registry("operator implementation", ENTRY_POINT_GROUP)


def register_operator(
    name: str,
    branch: str | None = None,
    reads: Iterable[str] | None = None,
    description: str = "",
    label: str = "",
    overwrite: bool = False,
) -> Callable[[type[Operator]], type[Operator]]:
    """Class decorator: register an `Operator` subclass under `name`.

    Without `branch`/`reads` the name must already have a signature; with them the signature (and its
    `label`, `description`) is added, or checked against the one registered. Registering a taken name
    raises unless `overwrite=True`, which warns and replaces the implementation, and the signature when
    `branch`/`reads` are given.
    """

    def deco(cls: type[Operator]) -> type[Operator]:
        if branch is not None or reads is not None:
            if branch is None or reads is None:
                raise ValueError(f"operator {name!r}: give both branch= and reads=, or neither")
            declared = OperatorSignature(name, branch, frozenset(reads), description, label)  # type: ignore[arg-type]  # OperatorSignature checks branch and reads
            sig = register_signature(declared, overwrite=overwrite)
        else:
            try:
                sig = get_signature(name)
            except UnknownNameError:
                raise ValueError(
                    f"operator {name!r} has no signature yet: give branch= and reads= to declare a new operator"
                ) from None
        cls.name = name
        cls.branch = sig.branch
        cls.reads = frozenset(sig.reads)
        IMPLEMENTATIONS.register(name, cls(), overwrite=overwrite)
        return cls

    return deco


def unregister_operator(name: str, signature: bool = True) -> None:
    """Remove an implementation (and, by default, its signature): for tests of plug-ins."""
    IMPLEMENTATIONS.unregister(name)
    if signature:
        OPERATORS.unregister(name)


def get_operator(name: str) -> Operator:
    """The implementation of operator `name` (`nasrec.registry.UnknownNameError` listing the known ones)."""
    return IMPLEMENTATIONS.get(name)


def list_operators(pattern: str = "*", branch: str | None = None) -> list[str]:
    """Registered operator names matching a wildcard pattern (and branch), sorted."""
    return sorted(n for n in IMPLEMENTATIONS.names(pattern) if branch is None or IMPLEMENTATIONS[n].branch == branch)
