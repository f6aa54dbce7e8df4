"""Standalone models at exact size, optionally inheriting their weights from a supernet.

    model = compile_standalone(genotype, features, layernorm=True)            # from scratch
    model = compile_standalone(genotype, features, inherit=supernet)         # weights sliced from it
    ep = torch.export.export(model, (dense, sparse))
    save_weights(model, "model.pt")                  # with its architecture's digest and its build (features)

The model follows the reference's layer rules (docs/semantics.md): exact widths, skipped projections where
widths match (with their LayerNorms, docs/semantics.md says which), bias iff LayerNorm off for Linears followed by a
LayerNorm, and only the parts that reach the head (`Genotype.liveness`): dead blocks, operators and mergers are
not built. It computes the same function as `supernet.view(genotype)` when it inherits from `supernet`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, cast

import torch
from torch import Tensor, nn

from nasrec.compiler.base import OpInputs, OpModule
from nasrec.compiler.context import BuildContext
from nasrec.compiler.embedding import FeatureEmbedding, check_inputs
from nasrec.compiler.network import BlockPlan, NetPlan, OpRef, plan, run
from nasrec.compiler.supernet import Embedded
from nasrec.data.spec import FeatureSpec
from nasrec.genotype.schema import Genotype
from nasrec.state import atomic_open

DIGEST_ENTRY = "active_digest"
"""The entry of a standalone weights file (beside `model`, the state dict) naming the architecture the weights
are for: the genotype's `active_digest` (genotypes that differ only in dead parts build the same model)."""

BUILD_ENTRY = "build"
"""The entry of a standalone weights file recording how its model was built: `features` (the FeatureSpec as
JSON types), `layernorm` and `norm_raw_fm`; with it, the file alone rebuilds the model (`recorded_build`). Also
`inputs`: the input contract of the data it was trained on (`nasrec.data.inputs.input_contract`: feature order,
dtypes, dense transform, encoding, and the prepared data whose encoding `RowEncoder` applies), or None."""


class StandaloneModel(nn.Module):
    """A plain nn.Module: embedding tables, the live operators and mergers of the live blocks, the head."""

    def __init__(self, genotype: Genotype, features: FeatureSpec, ctx: BuildContext, init: bool = True) -> None:
        super().__init__()
        self.genotype, self.features, self.ctx = genotype, features, ctx
        self.inputs: dict[str, Any] | None = None
        """What the model's inputs are (`BUILD_ENTRY`'s `inputs`), where known: saved and exported with it."""
        self.plan: NetPlan = plan(genotype, ctx)
        self.embedding = FeatureEmbedding(features, init=init)
        self.blocks = nn.ModuleDict(
            {
                f"b{bp.k}": nn.ModuleDict({ref.key: ref.op.build(ref.spec, init) for ref in bp.refs})
                for bp in self.plan.blocks
            }
        )
        self.head = self.plan.head.op.build(self.plan.head.spec, init)

    def _call(self, bp: BlockPlan, ref: OpRef, x: OpInputs) -> Tensor:
        mod = cast(OpModule, cast(nn.ModuleDict, self.blocks[f"b{bp.k}"])[ref.key])
        return mod(x)  # a module call, so fvcore attributes its FLOPs to `blocks.b<k>.<key>`

    def embed(self, dense: Tensor, sparse: Tensor) -> Embedded:
        check_inputs(self.features, dense, sparse, self.embedding.table.weight.dtype)
        return Embedded(dense, self.embedding(sparse))

    def head_inputs(self, emb: Embedded) -> Tensor:
        """The head's input features [B, D_last + E * T_last] of an embedded batch (as `SupernetView`)."""
        return run(self.plan, emb.dense, emb.sparse, self._call)

    def from_embedded(self, emb: Embedded) -> Tensor:
        return self.head_logits(self.head_inputs(emb))

    def forward(self, dense: Tensor, sparse: Tensor) -> Tensor:
        """Logits [B] from dense [B, n_dense] float32 and sparse [B, n_sparse] int64 (other widths: ValueError)."""
        check_inputs(self.features, dense, sparse, self.embedding.table.weight.dtype)
        return self.head_logits(run(self.plan, dense, self.embedding(sparse), self._call))

    def _dense_logits(self, dense: Tensor, emb: Tensor) -> Tensor:
        return self.head_logits(run(self.plan, dense, emb, self._call))

    def compiled_forward(self) -> Callable[[Tensor, Tensor], Tensor]:
        """`forward` with everything after the embedding lookup compiled by `torch.compile` (inductor, static
        shapes: one graph per batch shape, compiled at its first call). The lookup stays eager: its sparse
        gradient is not something inductor's backward can hold. Same function as `forward` (float rounding);
        the module itself is unchanged (parameters, state_dict, eager `forward`)."""
        fn = self.__dict__.get("_compiled")
        if fn is None:
            fn = self.__dict__["_compiled"] = torch.compile(self._dense_logits, dynamic=False)
        compiled = fn

        def forward(dense: Tensor, sparse: Tensor) -> Tensor:
            check_inputs(self.features, dense, sparse, self.embedding.table.weight.dtype)
            return compiled(dense, self.embedding(sparse))

        return forward

    def head_logits(self, features: Tensor) -> Tensor:
        return self.head(OpInputs(dense=features))

    def num_dense_params(self) -> int:
        return sum(p.numel() for n, p in self.named_parameters() if not n.startswith("embedding."))

    def num_embedding_params(self) -> int:
        return sum(p.numel() for n, p in self.named_parameters() if n.startswith("embedding."))


def compile_standalone(
    genotype: Genotype,
    features: FeatureSpec,
    layernorm: bool | None = None,
    inherit: nn.Module | None = None,
    norm_raw_fm: bool | None = None,
) -> StandaloneModel:
    """Build `genotype` at exact size for `features`.

    `layernorm`: LayerNorm in every operator (default True); `norm_raw_fm`: also on the FM term of a D == 16
    merger (default False, the reference's rule). With `inherit`, both are the supernet's settings, and a
    different explicit value is an error. `inherit`: a `Supernet` whose weights to copy (sliced)."""
    if inherit is None:
        ctx = BuildContext.from_genotype(
            genotype, features, True if layernorm is None else layernorm, bool(norm_raw_fm)
        )
        return StandaloneModel(genotype, features, ctx)
    from nasrec.compiler.supernet import Supernet

    if not isinstance(inherit, Supernet):
        raise TypeError(f"inherit= takes a Supernet, got {type(inherit).__name__}")
    if layernorm is not None and layernorm != inherit.layernorm:
        raise ValueError(f"layernorm={layernorm} but the supernet was built with layernorm={inherit.layernorm}")
    if norm_raw_fm is not None and norm_raw_fm != inherit.norm_raw_fm:
        raise ValueError(f"norm_raw_fm={norm_raw_fm} but the supernet was built with norm_raw_fm={inherit.norm_raw_fm}")
    if features != inherit.features:
        raise ValueError("the supernet was built for a different FeatureSpec")
    model = StandaloneModel(genotype, features, inherit.ctx, init=False)
    inherit_weights(model, inherit.view(genotype))
    return model


@torch.no_grad()
def inherit_weights(model: StandaloneModel, view: nn.Module) -> None:
    """Copy every parameter of `model` from the slices `view` (a SupernetView of the same genotype) uses."""
    slices = view.slices()  # type: ignore[operator]  # a SupernetView (typed as a module: no import cycle)
    for name, p in model.named_parameters():
        src, slicer = slices[name]
        p.copy_(slicer(src))


def weights_state(model: StandaloneModel, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """What `save_weights` writes: `{"model": state dict, DIGEST_ENTRY: the genotype's active digest,
    BUILD_ENTRY: its build}`, plain tensors, strings, numbers and lists (`torch.load(weights_only=True)` reads it;
    `state.get("model", state)` the weights). `inputs`: the input contract (default `model.inputs`)."""
    build = {
        "features": model.features.model_dump(mode="json"),
        "layernorm": model.ctx.layernorm,
        "norm_raw_fm": model.ctx.norm_raw_fm,
        "inputs": inputs if inputs is not None else model.inputs,
    }
    return {"model": model.state_dict(), DIGEST_ENTRY: model.genotype.active_digest(), BUILD_ENTRY: build}


def save_weights(model: StandaloneModel, path: str | Path, inputs: dict[str, Any] | None = None) -> Path:
    """Write `model`'s weights, its architecture's digest and its build (`weights_state`) atomically to `path`."""
    with atomic_open(path, "wb") as fh:
        torch.save(weights_state(model, inputs), fh)
    return Path(path)


def recorded_digest(state: dict[str, Any]) -> str | None:
    """The active digest a loaded weights file records (`save_weights`); None for a file without one."""
    value = state.get(DIGEST_ENTRY)
    return None if value is None else str(value)


class Build(NamedTuple):
    """How a standalone model was built: `compile_standalone(genotype, features, layernorm, norm_raw_fm=...)`."""

    features: FeatureSpec
    layernorm: bool
    norm_raw_fm: bool
    inputs: dict[str, Any] | None = None
    """The input contract (`BUILD_ENTRY`); None in files written before it was recorded, or without one."""


def recorded_build(state: dict[str, Any]) -> Build | None:
    """The build a loaded weights file records (`save_weights`); None for a file without one (written before
    the build was recorded, or a plain state dict). ValueError where the entry cannot be read (damaged, or
    written by a nasrec whose FeatureSpec has other fields)."""
    build = state.get(BUILD_ENTRY)
    if build is None:
        return None
    try:
        features = FeatureSpec.model_validate(build["features"])
        inputs = build.get("inputs")
        if inputs is not None and not isinstance(inputs, dict):
            raise TypeError(f"inputs is a {type(inputs).__name__}, not a mapping")
        return Build(features, bool(build["layernorm"]), bool(build["norm_raw_fm"]), inputs)
    except (KeyError, TypeError, ValueError) as exc:
        reason = f"no {exc}" if isinstance(exc, KeyError) else " ".join(str(exc).split())[:200]
        raise ValueError(f"its recorded build cannot be read ({reason})") from None
