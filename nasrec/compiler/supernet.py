"""Weight-sharing supernet: every operator of every block at its largest size; views compute by slicing.

    supernet = Supernet("nasrec-full", features)
    view = supernet.view(genotype)            # nn.Module sharing the supernet's parameters
    logits = view(dense, sparse)              # [B]
    emb = supernet.embed(dense, sparse)       # run the embedding lookup once ...
    logits = [supernet.view(g).from_embedded(emb) for g in candidates]   # ... and many views on it
    feats = view.head_inputs(emb)             # [B, D_last + E * T_last], the head's input features

A view precomputes, when created, the slices (narrow / index_select) of every parameter it uses; its forward
only applies them and runs the chosen operators at the chosen widths (no module creation, nothing computed
at full width). Parts that do not reach the head (blocks, operators, mergers) are skipped.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, NamedTuple, cast

import torch
from torch import Tensor, nn

from nasrec.compiler.base import OpInputs, OpModule, Slicer
from nasrec.compiler.context import BuildContext, OpSpec
from nasrec.compiler.embedding import FeatureEmbedding, check_inputs
from nasrec.compiler.flat import FlatParams, by_index, padded_sizes
from nasrec.compiler.network import HEAD, BlockPlan, NetPlan, OpRef, op_key, plan, run
from nasrec.compiler.operators.mergers import MERGER_OPERATORS
from nasrec.compiler.registry import get_operator
from nasrec.data.spec import FeatureSpec
from nasrec.genotype.schema import Genotype
from nasrec.genotype.space import SearchSpace, get_space

SLICER_CACHE = 8192
"""Slicer lists a supernet keeps, keyed by (block, operator, spec); the oldest goes first when full."""


class Embedded(NamedTuple):
    """A batch after the embedding lookup: node 0 of every architecture."""

    dense: Tensor  # [B, n_dense]
    sparse: Tensor  # [B, n_sparse, E]


class Supernet(nn.Module):
    """All choices of `space` at their largest size, for `features`; LayerNorm in every operator or none.
    `norm_raw_fm`: LayerNorm also the raw FM term of a D == 16 merger (the reference skips it; see docs)."""

    def __init__(
        self,
        space: SearchSpace | str,
        features: FeatureSpec,
        layernorm: bool = True,
        view_cache: int = 64,
        *,
        norm_raw_fm: bool = False,
    ) -> None:
        super().__init__()
        self.space = get_space(space)
        self.features = features
        self.ctx = BuildContext.from_space(self.space, features, layernorm, norm_raw_fm)
        self.embedding = FeatureEmbedding(features)
        self.blocks = nn.ModuleDict()
        for k in range(1, self.space.num_blocks + 1):
            mods: dict[str, OpModule] = {}
            for branch in ("dense", "sparse"):
                for name in getattr(self.space, f"{branch}_ops"):
                    mods[op_key(branch, name)] = get_operator(name).build_super(self.ctx, k)
            for merger in self.space.mergers:
                mods[merger] = MERGER_OPERATORS[merger].build_super(self.ctx, k)
            self.blocks[f"b{k}"] = nn.ModuleDict(mods)
        self.head = HEAD.build(HEAD.super_spec(self.ctx))
        self._views: OrderedDict[str, SupernetView] = OrderedDict()
        self._view_cache = view_cache
        self._slicers: dict[tuple[int, str, OpSpec], list[tuple[str, nn.Parameter, Slicer]]] = {}
        self._flat = self._flatten()

    def _flatten(self) -> FlatParams:
        self._flat = FlatParams([(n, p) for n, p in self.named_parameters() if not n.startswith("embedding.")])
        return self._flat

    @property
    def flat(self) -> FlatParams:
        """The dense parameters as views of one buffer (`FlatParams`; remade after `.to()`, unpickling or
        `load_state_dict(assign=True)`); the embedding table stays apart (sparse gradients)."""
        f = self._flat
        if f is None or (f.params and f.params[0].data_ptr() != f.data.data_ptr()):
            f = self._flatten()
        return f

    def _apply(self, fn: Any, recurse: bool = True) -> Supernet:
        super()._apply(fn, recurse)
        if self._flat is not None and not self._flat.intact():  # e.g. moved: the parameters are copies now
            self._flatten()
        return self

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        out = super().load_state_dict(state_dict, strict, assign)
        if assign:  # new parameter objects: the views and slicers cached hold the old ones
            self._views.clear()
            self._slicers.clear()
            self._flatten()
        return out

    @property
    def layernorm(self) -> bool:
        return self.ctx.layernorm

    @property
    def norm_raw_fm(self) -> bool:
        return self.ctx.norm_raw_fm

    def embed(self, dense: Tensor, sparse: Tensor) -> Embedded:
        """The embedding lookup, to share between several views on one batch."""
        check_inputs(self.features, dense, sparse, self.embedding.table.weight.dtype)
        return Embedded(dense, self.embedding(sparse))

    def view(self, genotype: Genotype) -> SupernetView:
        """A module computing `genotype` with the supernet's (sliced) parameters."""
        self.space.check(genotype)
        return SupernetView(self, genotype)

    def cached_view(self, genotype: Genotype, local_grads: bool = False) -> SupernetView:
        """`view`, memoised by genotype digest and gradient mode (LRU of `view_cache` entries); `local_grads`:
        in local-gradient mode (`SupernetView.set_local_grads`). Each mode has its own view, so training in
        local-gradient mode leaves `supernet(dense, sparse, genotype)` on plain autograd."""
        key = f"{genotype.digest()}/{'local' if local_grads else 'plain'}"
        v = self._views.get(key)
        if v is None:
            v = self._views[key] = self.view(genotype).set_local_grads(local_grads)
            if len(self._views) > self._view_cache:
                self._views.popitem(last=False)
        else:
            self._views.move_to_end(key)
        return v

    def forward(self, dense: Tensor, sparse: Tensor, genotype: Genotype) -> Tensor:
        return self.cached_view(genotype)(dense, sparse)

    def dense_parameters(self) -> Iterator[nn.Parameter]:
        return (p for n, p in self.named_parameters() if not n.startswith("embedding."))

    def num_dense_params(self) -> int:
        return sum(p.numel() for p in self.dense_parameters())

    def __getstate__(self):  # views hold a reference back; do not carry the cache around
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        state["_views"] = OrderedDict()
        state["_slicers"] = {}
        state["_flat"] = None
        # each dense parameter is a view of one buffer, and plain pickle (multiprocessing, Ray) writes a view's
        # whole storage: ~20,000x the parameter for NASRec-Full. The submodules go with compact copies instead.
        compact = {id(p): nn.Parameter(p.detach().clone(), p.requires_grad) for p in self.parameters()}
        state["_modules"] = copy.deepcopy(state["_modules"], compact)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._flatten()  # the unpickled parameters are separate tensors again


class SupernetView(nn.Module):
    """One architecture inside a supernet. Its parameters are the supernet's (it holds the supernet)."""

    def __init__(self, supernet: Supernet, genotype: Genotype) -> None:
        super().__init__()
        self.supernet = supernet
        self.genotype = genotype
        self.plan: NetPlan = plan(genotype, supernet.ctx)
        self._slices: dict[tuple[int, str], list[tuple[str, nn.Parameter, Slicer]]] = {}
        for bp in self.plan.blocks:
            for ref in bp.refs:
                block = cast(nn.ModuleDict, supernet.blocks[f"b{bp.k}"])
                self._slices[(bp.k, ref.key)] = self._slicers(bp.k, cast(OpModule, block[ref.key]), ref)
        self._head = self._slicers(0, supernet.head, self.plan.head)
        self.local_grads = False
        self.leaves: dict[tuple[int, str], dict[str, Tensor]] = {}
        self.flat_leaf: Tensor | None = None
        self._flat_index: Tensor | None = None
        self._shapes: list[tuple[int, ...]] | None = None
        self._splits: tuple[list[int], list[int]] = ([], [])  # padded_sizes of the slices
        self.layout = [(key, name, p, s) for key, sl in self._all_slices() for name, p, s in sl]
        """((block, operator key) or (0, "head"), parameter name, super parameter, slicer) of each slice, in the
        order of `flat_leaf` and `flat_index`."""

    def _slicers(self, k: int, module: OpModule, ref: OpRef) -> list[tuple[str, nn.Parameter, Slicer]]:
        """(name, super parameter, slicer) of each parameter of `ref` in block `k` (0: the head), shared by
        every view through the supernet's cache (a sampled path per training step rebuilds no slicer twice, and
        gather positions move to the device once)."""
        cache, key = self.supernet._slicers, (k, ref.key, ref.spec)
        out = cache.get(key)
        if out is not None:
            return out
        out = []
        for name, d in ref.op.params(ref.spec).items():
            p = module._parameters[name]
            assert p is not None  # OpModule registers every declared parameter
            out.append((name, p, Slicer(tuple(p.shape), d.index)))
        if len(cache) >= SLICER_CACHE:
            del cache[next(iter(cache))]  # the oldest entry
        cache[key] = out
        return out

    def _params(self, bp: BlockPlan, ref: OpRef) -> dict[str, Tensor]:
        if self.local_grads:
            return self.leaves[(bp.k, ref.key)]
        return {name: s(p) for name, p, s in self._slices[(bp.k, ref.key)]}

    def _call(self, bp: BlockPlan, ref: OpRef, x: OpInputs) -> Tensor:
        return ref.op.forward(self._params(bp, ref), x, ref.spec)

    def set_local_grads(self, on: bool = True) -> SupernetView:
        """Local-gradient mode (fast supernet training): each forward gathers the used slices from the
        supernet's flat buffer into one fresh leaf (`self.flat_leaf`; `self.leaves` are its per-parameter
        views), so backward writes one exact-size gradient there instead of full-size gradients into the
        supernet; `nasrec.compiler.optim.SlicedAdagrad.step(view)` then updates only those slices.
        The embedding table is not copied: it gets its usual sparse gradient."""
        self.local_grads = on
        return self

    def _all_slices(self) -> list[tuple[tuple[int, str], list[tuple[str, nn.Parameter, Slicer]]]]:
        return [*list(self._slices.items()), ((0, "head"), self._head)]

    @property
    def flat_index(self) -> Tensor:
        """Positions in `supernet.flat.data` of this view's slices, in leaf order (made once per device)."""
        data = self.supernet.flat.data
        if self._flat_index is None or self._flat_index.device != data.device:
            self._flat_index = self.supernet.flat.positions([(p, s) for _, _, p, s in self.layout])
        return self._flat_index

    def split(self, flat: Tensor) -> list[Tensor]:
        """`flat` (shaped like `flat_leaf`) as one view per parameter slice, in `layout` order."""
        shapes = self._shape_list()
        if not shapes:
            return []
        pieces = flat.split(self._splits[0])
        return [
            pieces[i] if len(shape) == 1 else pieces[i].view(shape)
            for shape, i in zip(shapes, self._splits[1], strict=True)
        ]

    def _shape_list(self) -> list[tuple[int, ...]]:
        if self._shapes is None:
            shapes = [_shape(s, p) for _, _, p, s in self.layout]
            self._shapes = [shape for shape, _ in shapes]
            self._splits = padded_sizes([n for _, n in shapes])
        return self._shapes

    def _grouped(self, flat: Tensor) -> dict[tuple[int, str], dict[str, Tensor]]:
        """`split(flat)` by (block, operator key) and parameter name, like `leaves`."""
        out: dict[tuple[int, str], dict[str, Tensor]] = {key: {} for key in [*self._slices, (0, "head")]}
        for (key, name, _, _), t in zip(self.layout, self.split(flat), strict=True):
            out[key][name] = t
        return out

    def _make_leaves(self) -> None:
        data = self.supernet.flat.data
        if by_index(data):
            leaf = data.index_select(0, self.flat_index)
        else:  # one copy per slice, straight from the parameter
            self._shape_list()
            leaf = data.new_zeros(sum(self._splits[0]))
            if self.layout:
                torch._foreach_copy_(self.split(leaf), [s(p.data) for _, _, p, s in self.layout])
        self.flat_leaf = leaf.requires_grad_(True)
        self.leaves = self._grouped(self.flat_leaf)

    def leaf_grads(self) -> dict[tuple[int, str], dict[str, Tensor]]:
        """The gradients of the last local-gradient forward and backward, shaped like `leaves` (zeros where a
        parameter got none); empty when there is none."""
        g = None if self.flat_leaf is None else self.flat_leaf.grad
        return {} if g is None else self._grouped(g)

    # -- forward ---------------------------------------------------------------------------------
    def head_inputs(self, emb: Embedded) -> Tensor:
        """The head's input features [B, D_last + E * T_last] (dense output, then flattened tokens)."""
        if self.local_grads:
            self._make_leaves()
        return run(self.plan, emb.dense, emb.sparse, self._call)

    def head_weights(self) -> tuple[Tensor, Tensor]:
        """The head's (weight [1, F], bias [1]) for this view, sliced from the supernet (in local-gradient mode,
        once a forward has made them: the leaf's)."""
        if self.local_grads and (0, "head") in self.leaves:  # this forward's leaf
            w = self.leaves[(0, "head")]
        else:
            w = {name: s(p) for name, p, s in self._head}
        return w["head_w"], w["head_b"]

    def head_logits(self, features: Tensor) -> Tensor:
        w, b = self.head_weights()
        return nn.functional.linear(features, w, b).squeeze(-1)

    def from_embedded(self, emb: Embedded) -> Tensor:
        return self.head_logits(self.head_inputs(emb))

    def forward(self, dense: Tensor, sparse: Tensor) -> Tensor:
        return self.from_embedded(self.supernet.embed(dense, sparse))

    # -- the super -> standalone map ---------------------------------------------------------------
    def slices(self) -> dict[str, tuple[Tensor, Slicer]]:
        """Standalone parameter name -> (super parameter, slicer); covers every parameter of the
        standalone model of this genotype, embedding included."""
        out: dict[str, tuple[Tensor, Slicer]] = {}
        for (k, key), items in self._slices.items():
            for name, p, s in items:
                out[f"blocks.b{k}.{key}.{name}"] = (p, s)
        for name, p, s in self._head:
            out[f"head.{name}"] = (p, s)
        w = self.supernet.embedding.table.weight
        out["embedding.table.weight"] = (w, Slicer(tuple(w.shape), tuple(w.shape)))
        return out

    def num_dense_params(self) -> int:
        """Parameters this view uses, embeddings excluded (= its standalone model's dense parameters)."""
        return sum(_shape(s, p)[1] for n, (p, s) in self.slices().items() if not n.startswith("embedding."))


def _shape(s: Slicer, p: Tensor) -> tuple[tuple[int, ...], int]:
    """The shape of `s(p)` and its element count, from the slicer's steps (no tensor op)."""
    shape = list(p.shape)
    for axis, _, length in s.narrows:
        shape[axis] = length
    if s.host_index is not None and s.index is not None:
        shape[s.index[0]] = len(s.host_index)
    return tuple(shape), math.prod(shape)
