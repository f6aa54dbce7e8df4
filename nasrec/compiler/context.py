"""Build-time facts the compiler needs: source widths, the supernet's column layout, one operator's spec.

Supernet layout (the same for every view, so a view is a set of slices):
- dense concat columns: node 0 at [0, n_dense), block j at n_dense + (j - 1) * D_max, `width` columns used;
- sparse concat tokens: node 0 at [0, n_sparse), block j at n_sparse + (j - 1) * (S_max + M), its S operator
  tokens at [off, off + S) and its M = 8 merger tokens (when dense-to-sparse is on) at [off + S_max, off + S_max + M).
A standalone model uses the same specs; there the offsets only say where its weights come from in a supernet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nasrec.data.spec import FeatureSpec
from nasrec.genotype.schema import Genotype
from nasrec.genotype.space import SearchSpace

MERGER_TOKENS = 8
"""Dense-to-sparse merger: the dense vector becomes this many tokens of the embedding dim."""


@dataclass(frozen=True)
class DenseSource:
    """One dense source: node id, active width, column offset in the supernet's dense concat."""

    node: int
    width: int
    offset: int = 0


@dataclass(frozen=True)
class SparseSource:
    """One sparse source: node id, active operator tokens, merger tokens on/off, supernet token layout."""

    node: int
    tokens: int
    merger: bool = False
    offset: int = 0
    max_tokens: int = 0

    @property
    def count(self) -> int:
        return self.tokens + (MERGER_TOKENS if self.merger else 0)

    def positions(self) -> list[int]:
        """Token positions of this source in the supernet's sparse concat, in output order."""
        base = list(range(self.offset, self.offset + self.tokens))
        if self.merger:
            start = self.offset + max(self.max_tokens, self.tokens)
            base += list(range(start, start + MERGER_TOKENS))
        return base


@dataclass(frozen=True)
class OpSpec:
    """Everything one operator instance needs to know at build time.

    `dim`: its output dim (D for dense operators and the mergers, S for sparse ones). `supernet_max=True` marks
    the supernet's max-size instance, which never skips a projection (a view may need it at smaller widths).
    `norm_raw_fm`: LayerNorm the FM term also where its projection is skipped (D == E; not the reference's rule).
    """

    dim: int
    dense: tuple[DenseSource, ...] = ()
    sparse: tuple[SparseSource, ...] = ()
    left: DenseSource | None = None
    right: DenseSource | None = None
    layernorm: bool = True
    emb_dim: int = 16
    supernet_max: bool = False
    norm_raw_fm: bool = False

    @property
    def dense_width(self) -> int:
        return sum(s.width for s in self.dense)

    @property
    def tokens(self) -> int:
        return sum(s.count for s in self.sparse)

    @property
    def pair_width(self) -> int:
        return max(self.left.width if self.left else 0, self.right.width if self.right else 0)

    def dense_columns(self) -> list[int]:
        return [c for s in self.dense for c in range(s.offset, s.offset + s.width)]

    def token_positions(self) -> list[int]:
        return [p for s in self.sparse for p in s.positions()]


@dataclass(frozen=True)
class BuildContext:
    """Feature spec, LayerNorm flags and the maxima that fix the supernet layout."""

    features: FeatureSpec
    layernorm: bool
    num_blocks: int
    max_dense: int
    max_sparse: int
    merger_tokens: int = MERGER_TOKENS
    dense_ops: tuple[str, ...] = field(default=())
    sparse_ops: tuple[str, ...] = field(default=())
    mergers: tuple[str, ...] = field(default=())
    norm_raw_fm: bool = False

    @classmethod
    def from_space(
        cls, space: SearchSpace, features: FeatureSpec, layernorm: bool = True, norm_raw_fm: bool = False
    ) -> BuildContext:
        return cls(
            features=features,
            layernorm=layernorm,
            num_blocks=space.num_blocks,
            max_dense=max(space.dense_dims),
            max_sparse=max(space.sparse_dims),
            merger_tokens=MERGER_TOKENS if "dense_to_sparse" in space.mergers else 0,
            dense_ops=tuple(space.dense_ops),
            sparse_ops=tuple(space.sparse_ops),
            mergers=tuple(space.mergers),
            norm_raw_fm=norm_raw_fm,
        )

    @classmethod
    def from_genotype(
        cls, genotype: Genotype, features: FeatureSpec, layernorm: bool = True, norm_raw_fm: bool = False
    ) -> BuildContext:
        """A layout fitted to one genotype (for standalone models built without a supernet)."""
        return cls(
            features=features,
            layernorm=layernorm,
            num_blocks=genotype.num_blocks,
            max_dense=max(b.dense.dim for b in genotype.blocks),
            max_sparse=max(b.sparse.dim for b in genotype.blocks),
            norm_raw_fm=norm_raw_fm,
        )

    @property
    def emb_dim(self) -> int:
        return self.features.embedding_dim

    # -- layout ------------------------------------------------------------------------------
    def dense_offset(self, node: int) -> int:
        return 0 if node == 0 else self.features.n_dense + (node - 1) * self.max_dense

    def token_offset(self, node: int) -> int:
        return 0 if node == 0 else self.features.n_sparse + (node - 1) * (self.max_sparse + self.merger_tokens)

    def dense_source(self, node: int, width: int) -> DenseSource:
        return DenseSource(node, width, self.dense_offset(node))

    def sparse_source(self, node: int, tokens: int, merger: bool) -> SparseSource:
        max_tokens = self.features.n_sparse if node == 0 else self.max_sparse
        return SparseSource(node, tokens, merger, self.token_offset(node), max_tokens)

    def max_dense_source(self, node: int) -> DenseSource:
        return self.dense_source(node, self.features.n_dense if node == 0 else self.max_dense)

    def max_sparse_source(self, node: int) -> SparseSource:
        if node == 0:
            return self.sparse_source(0, self.features.n_sparse, False)
        return self.sparse_source(node, self.max_sparse, self.merger_tokens > 0)

    def super_spec(self, k: int, dim: int) -> OpSpec:
        """Max-size spec of an operator of block k: every earlier node at its largest width."""
        widest = max(self.features.n_dense, self.max_dense if k > 1 else 0)
        return OpSpec(
            dim=dim,
            dense=tuple(self.max_dense_source(n) for n in range(k)),
            sparse=tuple(self.max_sparse_source(n) for n in range(k)),
            left=DenseSource(0, widest),
            right=DenseSource(0, widest),
            layernorm=self.layernorm,
            emb_dim=self.emb_dim,
            supernet_max=True,
        )
