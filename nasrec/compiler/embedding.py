"""Embedding tables from a `FeatureSpec`: one table per sparse field, stored as one concatenated table.

A lookup folds each field's indices with the reference's rule (vectorised `fold_index`: 0 = missing,
i >= rows -> (i - 1) mod (rows - 1) + 1), adds the field's row offset and does a single gather, instead of one
lookup per field and a stack (see docs/compiler.md for the measurement). Gradients are sparse
(`nn.Embedding(sparse=True)`), so use an optimizer that accepts them (SGD, Adagrad, SparseAdam).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nasrec.data.spec import FeatureSpec


def check_inputs(features: FeatureSpec, dense: Tensor, sparse: Tensor, dtype: torch.dtype | None = None) -> None:
    """Refuse a batch whose widths are not the model's: a wider dense input would be cut and a narrower one
    zero-padded by the operators, and a [B, 1] sparse input would broadcast one index to every field. Also
    refused, with what to pass: dense values of another dtype than the model's `dtype` (numpy's float64), and
    sparse indices that are not integers."""
    if dtype is not None and dense.dtype != dtype:
        name = str(dtype).removeprefix("torch.")
        raise ValueError(
            f"dense input must be {name} (the model's dtype), got {str(dense.dtype).removeprefix('torch.')}"
        )
    if sparse.is_floating_point() or sparse.is_complex() or sparse.dtype == torch.bool:
        raise ValueError(
            f"sparse input must be integer indices (int64), got {str(sparse.dtype).removeprefix('torch.')}"
        )
    if dense.dim() != 2 or dense.shape[1] != features.n_dense:
        raise ValueError(
            f"dense input must be [batch, {features.n_dense}] (the model's {features.n_dense} dense features), "
            f"got {list(dense.shape)}"
        )
    if sparse.dim() != 2 or sparse.shape[1] != features.n_sparse or sparse.shape[0] != dense.shape[0]:
        raise ValueError(
            f"sparse input must be [{dense.shape[0]}, {features.n_sparse}] (one index per sparse field, as many "
            f"rows as the dense input), got {list(sparse.shape)}"
        )


class FeatureEmbedding(nn.Module):
    """[B, n_sparse] int64 indices -> [B, n_sparse, embedding_dim] float32."""

    rows: Tensor
    offsets: Tensor

    def __init__(
        self, features: FeatureSpec, sparse: bool = True, init_scale: float | None = None, init: bool = True
    ) -> None:
        super().__init__()
        rows = torch.tensor(features.table_rows, dtype=torch.long)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("offsets", torch.cumsum(rows, 0) - rows, persistent=False)
        self.table = nn.Embedding(
            int(rows.sum()),
            features.embedding_dim,
            sparse=sparse,
            _weight=torch.empty(int(rows.sum()), features.embedding_dim),
        )
        if not init:
            return
        with torch.no_grad():  # per-field uniform(+-1/sqrt(rows)), as DLRM-style CTR models do
            scale = init_scale
            for off, n in zip(self.offsets.tolist(), rows.tolist(), strict=True):
                bound = scale if scale is not None else n**-0.5
                self.table.weight[off : off + n].uniform_(-bound, bound)

    @property
    def num_rows(self) -> int:
        return self.table.num_embeddings

    def fold(self, sparse: Tensor) -> Tensor:
        """The reference's index rule per field, vectorised: an index past the field's rows folds to
        (i - 1) mod (rows - 1) + 1; a negative one folds the same way (into the field's rows 1..rows-1, never a
        neighbouring field's). The divisor is clamped to >= 1: identical for every table of >= 2 rows, and it
        keeps inductor's vectorised loop (whose masked tail lanes read 0 rows) from raising ZeroDivisionError
        under `torch.compile`; a 1-row table maps every index to its row 0."""
        rows = self.rows
        folded = (sparse - 1).remainder((rows - 1).clamp_min(1)) + 1
        return torch.where((sparse >= rows) | (sparse < 0), folded.minimum(rows - 1), sparse)

    def forward(self, sparse: Tensor) -> Tensor:
        return self.table(self.fold(sparse) + self.offsets)


class PerFieldEmbedding(nn.Module):
    """One `nn.Embedding` per field and a stack: the straightforward layout, kept for the benchmark."""

    rows: Tensor

    def __init__(self, features: FeatureSpec, sparse: bool = True) -> None:
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(n, features.embedding_dim, sparse=sparse) for n in features.table_rows)
        self.register_buffer("rows", torch.tensor(features.table_rows, dtype=torch.long), persistent=False)

    def forward(self, sparse: Tensor) -> Tensor:
        rows = self.rows
        idx = torch.where((sparse >= rows) | (sparse < 0), (sparse - 1).remainder(rows - 1) + 1, sparse)
        return torch.stack([t(idx[:, i]) for i, t in enumerate(self.tables)], dim=1)
