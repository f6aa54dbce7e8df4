"""The operator contract: parameters declared with their super -> exact slices, one pure forward function.

An operator implementation declares, for an `OpSpec`, its parameters as `ParamDef`s. Each `ParamDef` carries
an `index`: per axis either a prefix length or a list of positions in the supernet's max-size parameter. From
that one declaration the compiler derives everything:
- the supernet module (`build_super`: the spec with every source at max width, `supernet_max=True`);
- the standalone module (`build`: parameters shaped like the exact spec);
- a view's weights (the index applied to the super parameters, precomputed as a `Slicer`);
- weight inheritance (the same slices copied into the standalone module), and gradient mapping in tests.
Both the view and the standalone module call the same `forward(params, inputs, spec)`, so they compute the
same function by construction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, NamedTuple, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nasrec.compiler import fused
from nasrec.compiler.context import OpSpec

Axis = int | tuple[int, ...]
"""A prefix length, or explicit positions in the super parameter's axis."""

NATIVE_NORM = False
"""True: `F.layer_norm` everywhere (the code path before issue 18; `previous_code_path`)."""


@dataclass(frozen=True)
class ParamDef:
    """One parameter: how to take it from the super parameter (`index`) and how to initialise it."""

    index: tuple[Axis, ...]
    init: str = "uniform"  # uniform(+-1/sqrt(fan_in)) | ones | zeros | const
    fan_in: int = 1
    value: float = 0.0

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a if isinstance(a, int) else len(a) for a in self.index)

    def initialise(self, t: Tensor) -> None:
        with torch.no_grad():
            if self.init == "uniform":
                bound = 1.0 / math.sqrt(max(self.fan_in, 1))
                t.uniform_(-bound, bound)
            elif self.init == "ones":
                t.fill_(1.0)
            elif self.init == "zeros":
                t.zero_()
            else:
                t.fill_(self.value)


class OpInputs(NamedTuple):
    """A block's inputs, as the operators read them."""

    dense: Tensor | None = None  # [B, w] dense concat
    sparse: Tensor | None = None  # [B, T, E] sparse concat; may be a non-contiguous view (use reshape, not view)
    left: Tensor | None = None  # [B, w_left]
    right: Tensor | None = None  # [B, w_right]


class Operator:
    """Base of every operator implementation (and of the mergers and the head)."""

    name: ClassVar[str] = ""
    branch: ClassVar[str] = ""  # set by `register_operator` from the operator's signature
    reads: ClassVar[frozenset[str]] = frozenset()

    def params(self, spec: OpSpec) -> dict[str, ParamDef]:
        raise NotImplementedError

    def forward(self, p: Mapping[str, Tensor], x: OpInputs, spec: OpSpec) -> Tensor:
        raise NotImplementedError

    def build(self, spec: OpSpec, init: bool = True) -> OpModule:
        """A module holding this operator's parameters at the sizes of `spec` (uninitialised if not `init`)."""
        return OpModule(self, spec, init)

    def build_super(self, ctx, k: int) -> OpModule:
        """The supernet's max-size module for block k."""
        return OpModule(self, self.super_spec(ctx, k))

    def super_spec(self, ctx, k: int) -> OpSpec:
        dims = {"dense": ctx.max_dense, "sparse": ctx.max_sparse}
        return ctx.super_spec(k, dims[getattr(self, "branch", "dense")])


class OpModule(nn.Module):
    """Parameters of one operator instance; `forward` runs the operator's function on them."""

    def __init__(self, op: Operator, spec: OpSpec, init: bool = True) -> None:
        super().__init__()
        self.op, self.spec = op, spec
        self.defs = op.params(spec)
        for name, d in self.defs.items():
            t = nn.Parameter(torch.empty(d.shape))
            if init:
                d.initialise(t)
            self.register_parameter(name, t)

    def param_dict(self) -> dict[str, Tensor]:
        return {name: cast(Tensor, self._parameters[name]) for name in self.defs}

    def forward(self, x: OpInputs) -> Tensor:
        return self.op.forward(self.param_dict(), x, self.spec)

    def extra_repr(self) -> str:
        return f"{self.op.name}: " + ", ".join(f"{n}={tuple(d.shape)}" for n, d in self.defs.items())


class Slicer:
    """Precomputed steps taking a super parameter to a view's exact parameter: `narrow`s on some axes and at
    most one `index_select` (explicit positions) on another. `write` puts a value back into that region."""

    __slots__ = ("_outer", "host_index", "index", "narrows")

    def __init__(self, super_shape: tuple[int, ...], index: tuple[Axis, ...]) -> None:
        narrows: list[tuple[int, int, int]] = []
        gathers: list[tuple[int, Tensor]] = []
        for axis, (size, a) in enumerate(zip(super_shape, index, strict=True)):
            if isinstance(a, int):
                if a > size:
                    raise ValueError(f"slice of {a} exceeds the super parameter's {size} on axis {axis}")
                if a != size:
                    narrows.append((axis, 0, a))
                continue
            pos = list(a)
            if pos and pos == list(range(pos[0], pos[0] + len(pos))):
                if len(pos) != size:
                    narrows.append((axis, pos[0], len(pos)))
            else:
                gathers.append((axis, torch.tensor(pos, dtype=torch.long)))
        if len(gathers) > 1:
            raise NotImplementedError("a parameter may gather explicit positions on one axis only")
        self.narrows = tuple(narrows)
        self.index = gathers[0] if gathers else None
        self.host_index = None if self.index is None else self.index[1].numpy()  # stays on the host
        self._outer: tuple[tuple[int, ...], np.ndarray, np.ndarray] | None = None

    @property
    def is_view(self) -> bool:
        """True when slicing returns a view of the super parameter (no copy)."""
        return self.index is None

    def _narrow(self, t: Tensor) -> Tensor:
        for axis, start, length in self.narrows:
            t = t.narrow(axis, start, length)
        return t

    def _positions(self, t: Tensor) -> Tensor:
        assert self.index is not None
        axis, pos = self.index
        if pos.device != t.device:  # moves once, with the supernet (e.g. to CUDA)
            pos = pos.to(t.device)
            self.index = (axis, pos)
        return pos

    def __call__(self, t: Tensor) -> Tensor:
        t = self._narrow(t)
        return t if self.index is None else t.index_select(self.index[0], self._positions(t))

    def outer(self, super_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols): the flat positions of `self(t)`'s elements in a contiguous `t` of `super_shape`, in
        row-major order, are `(rows[:, None] + cols[None, :]).ravel()` (memoised; host arrays)."""
        if self._outer is not None and self._outer[0] == super_shape:
            return self._outer[1], self._outer[2]
        axes = [np.arange(n, dtype=np.int64) for n in super_shape] or [np.zeros(1, dtype=np.int64)]
        for axis, start, length in self.narrows:
            axes[axis] = axes[axis][start : start + length]
        if self.index is not None:
            assert self.host_index is not None
            axes[self.index[0]] = self.host_index
        rows = np.zeros(1, dtype=np.int64)
        for axis, a in enumerate(axes[:-1]):  # axis 0 slowest; strides of a contiguous tensor
            rows = (rows[:, None] + a[None, :] * math.prod(super_shape[axis + 1 :])).ravel()
        self._outer = (super_shape, rows, axes[-1])
        return rows, axes[-1]

    @torch.no_grad()
    def write(self, t: Tensor, value: Tensor) -> None:
        """Store `value` (shaped like `self(t)`) into the region of `t` this slicer reads."""
        region = self._narrow(t)
        if self.index is None:
            region.copy_(value)
        else:
            region.index_copy_(self.index[0], self._positions(region), value)


# -- helpers shared by the operator files ---------------------------------------------------------
def linear_params(prefix: str, out: int, cols: Axis, bias: bool, fan_in: int | None = None) -> dict[str, ParamDef]:
    """Weight [out, cols] (+ bias [out]) with nn.Linear's default init."""
    n = fan_in if fan_in is not None else (cols if isinstance(cols, int) else len(cols))
    out_defs = {f"{prefix}_w": ParamDef((out, cols), fan_in=n)}
    if bias:
        out_defs[f"{prefix}_b"] = ParamDef((out,), fan_in=n)
    return out_defs


def norm_params(prefix: str, width: int, weight: float = 1.0) -> dict[str, ParamDef]:
    w = ParamDef((width,), "ones") if weight == 1.0 else ParamDef((width,), "const", value=weight)
    return {f"{prefix}_g": w, f"{prefix}_beta": ParamDef((width,), "zeros")}


def linear(p: Mapping[str, Tensor], prefix: str, x: Tensor) -> Tensor:
    return F.linear(x, p[f"{prefix}_w"], p.get(f"{prefix}_b"))


def norm(p: Mapping[str, Tensor], prefix: str, x: Tensor, eps: float = 1e-5) -> Tensor:
    """LayerNorm over the last axis if the operator has one named `prefix`, else identity (on CPU the fused
    kernel for narrow rows where it applies, `nasrec.compiler.fused.layer_norm`)."""
    g = p.get(f"{prefix}_g")
    if g is None:
        return x
    beta = p[f"{prefix}_beta"]
    if not NATIVE_NORM and fused.layer_norm_applies(x, g, beta):
        return fused.layer_norm(x, g, beta, eps)
    return F.layer_norm(x, (g.shape[0],), g, beta, eps)


def token_linear(p: Mapping[str, Tensor], prefix: str, x: Tensor) -> Tensor:
    """Linear along the token axis of [B, T, E] -> [B, E, S] (tokens last, ready for a LayerNorm over S)."""
    return linear(p, prefix, x.transpose(1, 2))
