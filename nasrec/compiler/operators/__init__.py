"""Built-in operator implementations, one module per family; importing this package registers them."""

from nasrec.compiler.operators import attention, dot, efc, fc, gating, mergers, sum  # noqa: F401
from nasrec.compiler.operators.mergers import MERGERS

__all__ = ["MERGERS"]
