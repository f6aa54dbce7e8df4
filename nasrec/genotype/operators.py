"""Operator signatures: what each operator reads and produces and how it is labelled, free of torch.

`OPERATORS` (a `nasrec.registry.Registry`) holds one `OperatorSignature` per operator: the built-ins below,
and those a plug-in declares with `nasrec.compiler.register_operator(name, branch=..., reads=..., label=...)`
in the module it lists in the `nasrec.operators` entry-point group (loaded the first time an unknown name
is looked up). Validation, sampling, mutation, the compiler and the renderer read operators only from here.
A built-in's signature sits here, not beside its implementation in nasrec/compiler/operators/, because
genotypes are validated and drawn without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nasrec.registry import Registry

Branch = Literal["dense", "sparse"]
Input = Literal["dense", "sparse", "pair"]
"""`dense`: the dense concat; `sparse`: the sparse concat; `pair`: the single `left`/`right` sources."""

ENTRY_POINT_GROUP = "nasrec.operators"


@dataclass(frozen=True)
class OperatorSignature:
    """An operator as genotypes see it: its branch, the inputs it reads, its label in drawings (default: the
    name) and a one-line description."""

    name: str
    branch: Branch
    reads: frozenset[Input]
    description: str = ""
    label: str = ""

    def __post_init__(self) -> None:
        if self.branch not in ("dense", "sparse"):
            raise ValueError(f"operator {self.name!r}: branch must be 'dense' or 'sparse', got {self.branch!r}")
        bad = set(self.reads) - {"dense", "sparse", "pair"}
        if bad or not self.reads:
            raise ValueError(f"operator {self.name!r}: reads must be a non-empty subset of dense/sparse/pair")
        if not self.label:
            object.__setattr__(self, "label", self.name)


OPERATORS: Registry[OperatorSignature] = Registry("operator", ENTRY_POINT_GROUP)


def register_signature(sig: OperatorSignature, overwrite: bool = False) -> OperatorSignature:
    """Add a signature. Registering the same signature again is a no-op; a different one under a taken name
    fails, unless `overwrite` (which warns and replaces it, label and description included)."""
    known = OPERATORS.get(sig.name) if sig.name in OPERATORS else None
    if known is None or (overwrite and known != sig):
        return OPERATORS.register(sig.name, sig, overwrite=overwrite)
    if (known.branch, known.reads) != (sig.branch, sig.reads):
        raise ValueError(
            f"operator {sig.name!r} is already registered with a different signature: {known} "
            "(overwrite=True replaces it)"
        )
    return known


def get_signature(name: str) -> OperatorSignature:
    """The signature of operator `name` (`nasrec.registry.UnknownNameError` listing the known ones)."""
    return OPERATORS.get(name)


def list_signatures(branch: Branch | None = None) -> list[OperatorSignature]:
    return [OPERATORS[n] for n in sorted(OPERATORS.names()) if branch is None or OPERATORS[n].branch == branch]


for _sig in (
    OperatorSignature("fc", "dense", frozenset({"dense"}), "Linear -> LayerNorm -> ReLU", "FC"),
    OperatorSignature("gating", "dense", frozenset({"pair"}), "sigmoid(Linear(left)) * right", "Sigmoid-Gating"),
    OperatorSignature("sum", "dense", frozenset({"pair"}), "left + right", "Sum"),
    OperatorSignature(
        "dot", "dense", frozenset({"dense", "sparse"}), "operator-balanced pairwise dot products", "Dot-Product"
    ),
    OperatorSignature("efc", "sparse", frozenset({"sparse"}), "Linear along the token axis", "EFC"),
    OperatorSignature(
        "attention", "sparse", frozenset({"sparse"}), "token projection + Transformer layer", "Attention"
    ),
):
    register_signature(_sig)
