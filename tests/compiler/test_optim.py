"""Local-gradient views + SlicedAdagrad == autograd through the supernet + torch.optim.Adagrad."""

from __future__ import annotations

import copy

import pytest
import torch

from nasrec.compiler import Supernet
from nasrec.compiler import flat as flat_mod
from nasrec.compiler.optim import SlicedAdagrad
from nasrec.genotype import NASREC_FULL, SearchSpace, sample
from tests.compiler.helpers import SMALL, batch, randomise

SPACE = SearchSpace(
    name="optim-test",
    num_blocks=4,
    dense_ops=NASREC_FULL.dense_ops,
    sparse_ops=NASREC_FULL.sparse_ops,
    dense_dims=(16, 32, 128),
    sparse_dims=(4, 8),
)


@pytest.mark.parametrize("indexed", [False, True])  # CUDA's path (by index over the flat buffer), on CPU
def test_sliced_adagrad_matches_torch_adagrad(indexed: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flat_mod, "INDEXED_DEVICES", frozenset({"cpu"} if indexed else ()))
    a = Supernet(SPACE, SMALL)
    randomise(a, seed=3)
    b = copy.deepcopy(a)
    dense_b = [p for n, p in b.named_parameters() if not n.startswith("embedding.")]
    opt_b = torch.optim.Adagrad(dense_b, lr=0.1, eps=1e-2)
    opt_a = SlicedAdagrad(a, lr=0.1, eps=1e-2)
    loss = torch.nn.BCEWithLogitsLoss()
    for step in range(3):
        g = sample(SPACE, "any-path", step % 2)  # revisit slices: the accumulators must carry over
        dense, sparse, label = batch(SMALL, seed=step)
        view_a = a.view(g).set_local_grads()
        loss(view_a(dense, sparse), label).backward()
        opt_a.step(view_a)
        opt_b.zero_grad(set_to_none=True)
        loss(b.view(g)(dense, sparse), label).backward()
        opt_b.step()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        if not name.startswith("embedding."):
            torch.testing.assert_close(pa, pb, atol=1e-5, rtol=1e-4, msg=lambda m, name=name: f"{name}: {m}")


def test_flat_step_is_bitwise_the_per_slice_update() -> None:
    a = Supernet(SPACE, SMALL)
    randomise(a, seed=5)
    b = copy.deepcopy(a)
    opt = SlicedAdagrad(a, lr=0.1, eps=1e-2)
    sums: dict[torch.nn.Parameter, torch.Tensor] = {}
    loss = torch.nn.BCEWithLogitsLoss()
    for step in range(3):
        g = sample(SPACE, "any-path", step)
        dense, sparse, label = batch(SMALL, seed=step)
        for net in (a, b):
            view = net.view(g).set_local_grads()
            loss(view(dense, sparse), label).backward()
            if net is a:
                opt.step(view)
                continue
            grads = view.leaf_grads()
            with torch.no_grad():  # the update one slice at a time
                for key, items in view._all_slices():
                    for name, p, s in items:
                        leaf, g = view.leaves[key][name], grads[key][name]
                        st = sums.setdefault(p, torch.zeros_like(p))
                        acc = s(st).addcmul_(g, g)
                        s.write(st, acc)
                        s.write(p.data, leaf.detach().addcdiv(g, acc.sqrt().add_(1e-2), value=-0.1))
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
