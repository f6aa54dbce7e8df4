"""The two per-block mergers (not genotype operators: every block may switch them on).

- Dense-to-sparse: Linear(D -> 8E) and LayerNorm (bias iff LN off), reshaped to 8 tokens of E, appended to
  the block's sparse output. Both skipped when D == 8E: the dense vector is reshaped directly.
- Sparse-to-dense: factorization machine over the block's own sparse output, (sum e)^2 - sum e^2 (no 1/2,
  as the reference), then Linear(E -> D) (bias iff LN off) and LayerNorm, both skipped when D == E (the raw
  FM term, as the reference; `spec.norm_raw_fm` keeps the LayerNorm there); added to the block's dense output.
Their `spec.dim` is the block's dense dim D; `forward` reads `x.dense` (D2S) or `x.sparse` (FM).
"""

from __future__ import annotations

from nasrec.compiler.base import Operator, linear, linear_params, norm, norm_params
from nasrec.compiler.context import MERGER_TOKENS


class DenseToSparse(Operator):
    name = "dense_to_sparse"

    def params(self, spec):
        width = MERGER_TOKENS * spec.emb_dim
        if not spec.supernet_max and spec.dim == width:
            return {}
        out = linear_params("proj", width, spec.dim, bias=not spec.layernorm)
        if spec.layernorm:
            out |= norm_params("ln", width)
        return out

    def forward(self, p, x, spec):
        h = x.dense
        if "proj_w" in p:
            h = norm(p, "ln", linear(p, "proj", h))
        return h.reshape(h.shape[0], MERGER_TOKENS, spec.emb_dim)

    def super_spec(self, ctx, k):
        return ctx.super_spec(k, ctx.max_dense)


class SparseToDense(Operator):
    name = "sparse_to_dense"

    def params(self, spec):
        raw = not spec.supernet_max and spec.dim == spec.emb_dim
        out = {} if raw else linear_params("proj", spec.dim, spec.emb_dim, bias=not spec.layernorm)
        if spec.layernorm and (not raw or spec.norm_raw_fm):
            out |= norm_params("ln", spec.dim)
        return out

    def forward(self, p, x, spec):
        s = x.sparse
        fm = s.sum(dim=1).square() - s.square().sum(dim=1)
        if "proj_w" in p:
            fm = linear(p, "proj", fm)
        return norm(p, "ln", fm)

    def super_spec(self, ctx, k):
        return ctx.super_spec(k, ctx.max_dense)


MERGER_OPERATORS: dict[str, Operator] = {"dense_to_sparse": DenseToSparse(), "sparse_to_dense": SparseToDense()}
