"""Adagrad for supernet training that touches only the slices a view used.

With plain autograd, a view's backward writes full-size gradients into every supernet parameter it slices, and
a torch optimizer then sweeps those full tensors; both cost the supernet's size, not the subnet's. In
local-gradient mode (`view.set_local_grads()`), gradients land on exact-size leaves, and `SlicedAdagrad.step`
applies Adagrad to the used slices of the parameters and of their accumulators. That is exactly what
`torch.optim.Adagrad` does to the supernet with those gradients (zero gradient elsewhere changes nothing when
weight decay and lr decay are 0). The embedding table keeps its sparse gradient: give it a torch optimizer.

    view = supernet.view(g).set_local_grads()
    dense_opt = SlicedAdagrad(supernet, lr=0.12, eps=1e-2)
    emb_opt = torch.optim.Adagrad([supernet.embedding.table.weight], lr=0.12, eps=1e-2)
    loss(view(dense, sparse), label).backward(); dense_opt.step(view); emb_opt.step(); emb_opt.zero_grad()
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class SlicedAdagrad:
    """Adagrad over a supernet's dense parameters, applied per view to the slices it used."""

    def __init__(
        self, supernet: nn.Module, lr: float = 0.01, eps: float = 1e-10, initial_accumulator_value: float = 0.0
    ) -> None:
        self.supernet, self.lr, self.eps, self.init = supernet, lr, eps, initial_accumulator_value
        self.state: dict[nn.Parameter, Tensor] = {}

    def _sum(self, p: nn.Parameter) -> Tensor:
        st = self.state.get(p)
        if st is None:
            st = self.state[p] = torch.full_like(p, self.init, memory_format=torch.preserve_format).detach()
        return st

    @torch.no_grad()
    def step(self, view: nn.Module) -> None:
        """Update the slices `view` used. Slices that are views of the parameters (narrows) are updated by four
        multi-tensor (foreach) calls, the same arithmetic as the per-slice ops; gathered slices are written back."""
        grads: list[Tensor] = []
        sums: list[Tensor] = []
        params: list[Tensor] = []
        for leaf, p, slicer in view.leaf_slices():  # type: ignore[operator]  # a SupernetView (compiler.supernet imports this module)
            g = leaf.grad
            if g is None:
                continue
            st = self._sum(p)
            leaf.grad = None
            if slicer.is_view:
                grads.append(g)
                sums.append(slicer(st))
                params.append(slicer(p.data))
                continue
            acc = slicer(st).addcmul_(g, g)
            slicer.write(st, acc)
            slicer.write(p.data, leaf.detach().addcdiv(g, acc.sqrt().add_(self.eps), value=-self.lr))
        if grads:
            torch._foreach_addcmul_(sums, grads, grads)
            std = torch._foreach_sqrt(sums)
            torch._foreach_add_(std, self.eps)
            torch._foreach_addcdiv_(params, grads, std, value=-self.lr)

    def state_dict(self) -> dict[str, object]:
        names = {p: n for n, p in self.supernet.named_parameters()}
        return {"lr": self.lr, "eps": self.eps, "sums": {names[p]: t for p, t in self.state.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        params = dict(self.supernet.named_parameters())
        self.lr, self.eps = float(state["lr"]), float(state["eps"])
        self.state = {params[n]: t.to(params[n].device, copy=True) for n, t in state["sums"].items()}
