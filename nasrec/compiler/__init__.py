"""The compiler: genotypes -> PyTorch, as views of a weight-sharing supernet or standalone models.

Public API: `Supernet`, `SupernetView`, `Embedded`, `compile_standalone`, `StandaloneModel`, `cost`, `Cost`,
`register_operator`, `get_operator`, `list_operators`, `Operator`, `FeatureEmbedding`. See docs/compiler.md.
"""

from nasrec.compiler import operators  # noqa: F401  (the built-in operators register themselves)
from nasrec.compiler.base import Operator, OpInputs, OpModule, ParamDef
from nasrec.compiler.context import BuildContext, OpSpec
from nasrec.compiler.cost import Cost, cost, count_flops
from nasrec.compiler.embedding import FeatureEmbedding
from nasrec.compiler.registry import get_operator, list_operators, register_operator, unregister_operator
from nasrec.compiler.standalone import StandaloneModel, compile_standalone, inherit_weights
from nasrec.compiler.supernet import Embedded, Supernet, SupernetView

__all__ = [
    "BuildContext",
    "Cost",
    "Embedded",
    "FeatureEmbedding",
    "OpInputs",
    "OpModule",
    "OpSpec",
    "Operator",
    "ParamDef",
    "StandaloneModel",
    "Supernet",
    "SupernetView",
    "compile_standalone",
    "cost",
    "count_flops",
    "get_operator",
    "inherit_weights",
    "list_operators",
    "register_operator",
    "unregister_operator",
]
