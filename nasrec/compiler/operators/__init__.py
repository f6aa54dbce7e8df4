"""Built-in operator implementations, one module per operator, and the two mergers (`mergers.py`).

Every public module of this package is imported with it (so with `nasrec.compiler`), which registers its
operator: a new built-in is a new module here plus its signature in nasrec/genotype/operators.py.
"""

import importlib
import pkgutil

from nasrec.compiler.operators.mergers import MERGER_OPERATORS

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["MERGER_OPERATORS"]
