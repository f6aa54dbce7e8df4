"""Genotypes as fixed-length numeric vectors, for surrogate models (predictor-guided search).

`reference_tokens` is the NasRec reference implementation's tokenizer encoding (its searcher's `Tokenizer`),
computed from the genotype as `to_nasrec_ref` writes it (inputs no operator reads become node 0, as there).
For N blocks and a space of n operators (dense and sparse together):

- connections, N blocks x 4 lists x N bits: for each block, whether node j (j = 0 .. N-1) is in its dense
  sources, its sparse sources, its `left`, its `right`;
- then per block, n + 6 values: one bit per operator of the space (the reference's `active_nodes`, in its
  positional order: `fc, dot, gating, sum, attention, efc` for NASRec-Full, `fc, dot, efc` for NASRec-Small,
  the space's dense then sparse operators otherwise), the index of the dense dim in the space's dense dims,
  the index of the sparse dim, and each merger as two bits (`1, 0` off, `0, 1` on).

Length 4N^2 + N(n + 6): 280 for NASRec-Full (N = 7, n = 6) and 259 for NASRec-Small (n = 3).
"""

from __future__ import annotations

import numpy as np

from nasrec.genotype.io import REF_CONFIG, REF_OPERATORS
from nasrec.genotype.schema import Genotype
from nasrec.genotype.space import SearchSpace


def reference_operators(space: SearchSpace) -> tuple[str, ...]:
    """The operators in the order the reference's tokens list them."""
    config = REF_CONFIG.get(space.name)
    if config is not None and set(REF_OPERATORS[config]) == {*space.dense_ops, *space.sparse_ops}:
        return REF_OPERATORS[config]
    return (*space.dense_ops, *space.sparse_ops)


def reference_token_length(space: SearchSpace) -> int:
    n = space.num_blocks
    return 4 * n * n + n * (len(reference_operators(space)) + 6)


def reference_tokens(genotype: Genotype, space: SearchSpace, canonical: bool = True) -> np.ndarray:
    """The reference tokenizer's vector of `genotype` (a genotype of `space`), as int64. `canonical`: of its
    canonical form, so that genotypes differing only in sources no operator reads encode alike (what a
    surrogate wants); False: of the genotype as given — a NasRec-ref file loaded as it is then encodes exactly
    as the reference's own tokenizer encodes that file."""
    n, ops = space.num_blocks, reference_operators(space)
    connections: list[int] = []
    micro: list[int] = []
    for block in (genotype.canonical() if canonical else genotype).blocks:
        ins = block.inputs
        for sources in (ins.dense or (0,), ins.sparse or (0,), (ins.left or 0,), (ins.right or 0,)):
            connections += [int(j in sources) for j in range(n)]
        chosen = {*block.dense.ops, *block.sparse.ops}
        micro += [int(op in chosen) for op in ops]
        micro += [space.dense_dims.index(block.dense.dim), space.sparse_dims.index(block.sparse.dim)]
        for on in (block.dense_to_sparse, block.sparse_to_dense):
            micro += [0, 1] if on else [1, 0]
    return np.asarray(connections + micro, dtype=np.int64)
