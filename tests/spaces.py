"""Search spaces shared by the tests."""

from nasrec.genotype import SearchSpace

TINY = SearchSpace(
    name="tiny",
    num_blocks=3,
    dense_ops=("fc", "gating", "sum", "dot"),
    sparse_ops=("efc", "attention"),
    dense_dims=(16, 32),
    sparse_dims=(8, 16),
)
"""A 3-block space small enough for supernets trained in seconds on the bundled rows."""
