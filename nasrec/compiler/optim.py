"""Adagrad for supernet training that touches only the slices a view used.

With plain autograd, a view's backward writes full-size gradients into every supernet parameter it slices, and
a torch optimizer then sweeps those full tensors; both cost the supernet's size, not the subnet's. In
local-gradient mode (`view.set_local_grads()`), gradients land on one exact-size leaf gathered from the
supernet's flat buffer, and `SlicedAdagrad.step` applies Adagrad to the used slices of the parameters and of
their accumulators (one flat buffer too) with a few index ops. That is exactly what
`torch.optim.Adagrad` does to the supernet with those gradients (zero gradient elsewhere changes nothing when
weight decay and lr decay are 0). The embedding table keeps its sparse gradient: give it a torch optimizer.

    view = supernet.view(g).set_local_grads()
    dense_opt = SlicedAdagrad(supernet, lr=0.12, eps=1e-2)
    emb_opt = torch.optim.Adagrad([supernet.embedding.table.weight], lr=0.12, eps=1e-2)
    loss(view(dense, sparse), label).backward(); dense_opt.step(view); emb_opt.step(); emb_opt.zero_grad()
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor, nn

from nasrec.compiler import fused
from nasrec.compiler.flat import FlatParams, by_index

FUSED_ADAGRAD = True
"""`SlicedAdagrad` (on CPU) and `FusedAdagrad` update with the fused kernel (`nasrec.compiler.fused.adagrad_step`:
one pass; a correctly rounded sqrt, so within a unit in the last place of torch's update); False: torch's
foreach ops, bitwise torch's Adagrad (`previous_code_path`)."""


class SlicedAdagrad:
    """Adagrad over a supernet's dense parameters, applied per view to the slices it used. The accumulators
    live in one buffer shaped like `supernet.flat.data`: on CUDA a step is a few index ops over `view.flat_index`."""

    def __init__(
        self, supernet: nn.Module, lr: float = 0.01, eps: float = 1e-10, initial_accumulator_value: float = 0.0
    ) -> None:
        self.supernet, self.lr, self.eps, self.init = supernet, lr, eps, initial_accumulator_value
        self.sums: Tensor | None = None

    def _flat(self) -> FlatParams:
        return cast(FlatParams, self.supernet.flat)  # a Supernet (compiler.supernet imports this module)

    def _sums(self, data: Tensor) -> Tensor:
        if self.sums is None:
            self.sums = torch.full_like(data, self.init)
        elif self.sums.device != data.device:
            self.sums = self.sums.to(data.device)
        return self.sums

    @torch.no_grad()
    def step(self, view: Any) -> None:
        """Update the slices `view` (a local-gradient `SupernetView`) used, from its flat leaf's gradient g:
        sum += g^2, then parameter = leaf - lr * g / (sqrt(sum) + eps) (a parameter the view did not reach has
        g = 0: unchanged). On `INDEXED_DEVICES` by a few index ops over `view.flat_index`; elsewhere slice by
        slice, in one call of the fused kernel (`FUSED_ADAGRAD`; else four foreach calls): slices that are views
        of their parameter in place, the others (index selections) on copies written back."""
        if not view.local_grads:
            raise ValueError(
                "SlicedAdagrad.step(view) needs a view in local-gradient mode (view.set_local_grads()): a plain "
                "view's backward writes its gradients into the supernet's parameters, which this step never reads"
            )
        leaf = view.flat_leaf
        if leaf is None or leaf.grad is None:
            return
        g = leaf.grad
        leaf.grad = None
        flat = self._flat()
        sums = self._sums(flat.data)
        if by_index(flat.data):
            index = view.flat_index
            acc = sums.index_select(0, index).addcmul_(g, g)
            sums.index_copy_(0, index, acc)
            flat.data.index_copy_(0, index, leaf.detach().addcdiv(g, acc.sqrt_().add_(self.eps), value=-self.lr))
            return
        grads: list[Tensor] = []
        accs: list[Tensor] = []
        params: list[Tensor] = []
        copies: list[tuple[int, Any, Tensor, Tensor]] = []  # slices held as copies: written back after the update
        for (_, _, p, slicer), gs, ls in zip(view.layout, view.split(g), view.split(leaf.detach()), strict=True):
            st = flat.chunk(sums, p)
            grads.append(gs)
            accs.append(slicer(st))
            if slicer.is_view:  # views of the parameter and its sums: updated in place
                params.append(slicer(p.data))
            else:  # index_select copies; the leaf's chunk holds the slice's values (a fresh leaf each forward)
                params.append(ls)
                copies.append((len(params) - 1, slicer, st, p.data))
        if not grads:
            return
        if FUSED_ADAGRAD and fused.adagrad_applies(params, accs):
            fused.adagrad_step(params, accs, grads, self.lr, self.eps)
        else:
            torch._foreach_addcmul_(accs, grads, grads)
            std = torch._foreach_sqrt(accs)
            torch._foreach_add_(std, self.eps)
            torch._foreach_addcdiv_(params, grads, std, value=-self.lr)
        for i, slicer, st, data in copies:
            slicer.write(st, accs[i])
            slicer.write(data, params[i])

    def state_dict(self) -> dict[str, object]:
        """The accumulators per parameter name (views of one buffer; the format of per-parameter tensors)."""
        sums = {} if self.sums is None else self._flat().chunks(self.sums)
        return {"lr": self.lr, "eps": self.eps, "sums": sums}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load `state_dict()`'s output; parameters it has no accumulator for start from the initial value."""
        self.lr, self.eps = float(state["lr"]), float(state["eps"])
        flat = self._flat()
        self.sums = torch.full_like(flat.data, self.init)
        chunks = flat.chunks(self.sums)
        for n, t in state["sums"].items():
            chunks[n].copy_(t)


class RowSparseAdagrad(torch.optim.Adagrad):
    """`torch.optim.Adagrad` whose update of a sparse (embedding) gradient touches only the gradient's rows.

    The same arithmetic as torch's sparse branch (coalesce; accumulate the squares; sqrt + eps; the scaled
    step) through `index_add_`/`index_select` on the rows, where torch's sparse-dense adds and `sparse_mask`
    cost a pass over the whole table on CPU (~1 ms per add for a 3M-row table). Dense gradients, weight decay,
    `maximize` and complex parameters take torch's own step. Its state dict is Adagrad's."""

    def _torch_step(self) -> bool:
        """Whether any group needs torch's own step (dense gradient, weight decay, maximize, complex parameter)."""
        return any(
            group["weight_decay"] or group["maximize"] or not p.grad.is_sparse or p.is_complex()
            for group in self.param_groups
            for p in group["params"]
            if p.grad is not None
        )

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        if self._torch_step():  # decided for all groups at once: no group is stepped twice
            return super().step(closure)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in (p for p in group["params"] if p.grad is not None):
                state = self.state[p]
                state["step"] += 1
                clr = group["lr"] / (1 + (state["step"].item() - 1) * group["lr_decay"])
                grad = p.grad.coalesce()  # the update is non-linear: each row once
                rows, values = grad._indices()[0], grad._values()
                total = state["sum"]
                total.index_add_(0, rows, values.pow(2))
                std = total.index_select(0, rows).sqrt_().add_(group["eps"])
                p.index_add_(0, rows, values / std, alpha=-clr)
        return loss


class FusedAdagrad(torch.optim.Adagrad):
    """`torch.optim.Adagrad` whose dense update runs the fused kernel (`nasrec.compiler.fused.adagrad_step`: one
    pass per tensor instead of four, the square root IEEE's) where it applies (`FUSED_ADAGRAD`; float32 CPU
    parameters of at most 2 axes, no weight decay, lr decay or maximize); elsewhere torch's own step. Its state
    dict is Adagrad's."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        groups = [(group, [p for p in group["params"] if p.grad is not None]) for group in self.param_groups]
        simple = all(
            not (group["weight_decay"] or group["lr_decay"] or group["maximize"])
            and all(not p.grad.is_sparse for p in ps)
            and (not ps or fused.adagrad_applies(ps, [self.state[p]["sum"] for p in ps]))
            for group, ps in groups
        )
        if not (FUSED_ADAGRAD and simple):
            return super().step(closure)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group, ps in groups:
            if ps:
                for p in ps:
                    self.state[p]["step"] += 1
                sums = [self.state[p]["sum"] for p in ps]
                fused.adagrad_step(ps, sums, [p.grad for p in ps], group["lr"], group["eps"])
        return loss
