"""Catalog of operator signatures: what each operator reads and produces, free of torch.

The compiler registers implementations under these names (`nasrec.compiler.registry.register_operator`);
a new operator adds its signature here through that decorator, so validation, sampling, mutation and
rendering pick it up with no other edit. Third-party packages are found through the `nasrec.operators`
entry-point group, loaded the first time an unknown name is looked up.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Literal

from nasrec.genotype.errors import GenotypeError

Branch = Literal["dense", "sparse"]
Input = Literal["dense", "sparse", "pair"]
"""`dense`: the dense concat; `sparse`: the sparse concat; `pair`: the single `left`/`right` sources."""

ENTRY_POINT_GROUP = "nasrec.operators"


@dataclass(frozen=True)
class OperatorSignature:
    name: str
    branch: Branch
    reads: frozenset[Input]
    description: str = ""

    def __post_init__(self) -> None:
        if self.branch not in ("dense", "sparse"):
            raise ValueError(f"operator {self.name!r}: branch must be 'dense' or 'sparse', got {self.branch!r}")
        bad = set(self.reads) - {"dense", "sparse", "pair"}
        if bad or not self.reads:
            raise ValueError(f"operator {self.name!r}: reads must be a non-empty subset of dense/sparse/pair")

    @property
    def binary(self) -> bool:
        return "pair" in self.reads


_CATALOG: dict[str, OperatorSignature] = {}
_entry_points_loaded = False


def register_signature(sig: OperatorSignature) -> OperatorSignature:
    """Add a signature. Re-registering the same signature is a no-op; a different one under a taken name fails."""
    known = _CATALOG.get(sig.name)
    if known is not None and (known.branch, known.reads) != (sig.branch, sig.reads):
        raise ValueError(f"operator {sig.name!r} is already registered with a different signature: {known}")
    _CATALOG[sig.name] = sig
    return sig


def unregister_signature(name: str) -> None:
    """Remove a signature (for tests of plug-ins)."""
    _CATALOG.pop(name, None)


def load_entry_points() -> None:
    """Import every module of the `nasrec.operators` entry-point group once."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep.load()


def get_signature(name: str) -> OperatorSignature:
    if name not in _CATALOG:
        load_entry_points()
    try:
        return _CATALOG[name]
    except KeyError:
        raise GenotypeError(f"unknown operator {name!r} (known: {', '.join(sorted(_CATALOG))})") from None


def list_signatures(branch: Branch | None = None) -> list[OperatorSignature]:
    load_entry_points()
    return [s for _, s in sorted(_CATALOG.items()) if branch is None or s.branch == branch]


for _sig in (
    OperatorSignature("fc", "dense", frozenset({"dense"}), "Linear -> LayerNorm -> ReLU"),
    OperatorSignature("gating", "dense", frozenset({"pair"}), "sigmoid(Linear(left)) * right"),
    OperatorSignature("sum", "dense", frozenset({"pair"}), "left + right"),
    OperatorSignature("dot", "dense", frozenset({"dense", "sparse"}), "operator-balanced pairwise dot products"),
    OperatorSignature("efc", "sparse", frozenset({"sparse"}), "Linear along the token axis"),
    OperatorSignature("attention", "sparse", frozenset({"sparse"}), "token projection + Transformer layer"),
):
    register_signature(_sig)
