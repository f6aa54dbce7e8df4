"""Local-gradient views + SlicedAdagrad == autograd through the supernet + torch.optim.Adagrad; RowSparseAdagrad
== torch's sparse Adagrad."""

from __future__ import annotations

import copy

import pytest
import torch

from nasrec.compiler import Supernet, fused
from nasrec.compiler import flat as flat_mod
from nasrec.compiler import optim as optim_mod
from nasrec.compiler.optim import RowSparseAdagrad, SlicedAdagrad
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


def correctly_rounded_sqrt(t: torch.Tensor) -> torch.Tensor:
    return t.double().sqrt().float()  # float64's sqrt rounded to float32: IEEE's float32 sqrt


@pytest.mark.parametrize("fused_kernel", [False, True])
def test_flat_step_is_bitwise_the_per_slice_update(fused_kernel: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bitwise torch's ops slice by slice; with the fused kernel, bitwise the same ops with IEEE's sqrt in place
    of torch's (which is off by a unit in the last place for some floats)."""
    if fused_kernel and fused.extension() is None:
        pytest.skip("the fused kernels cannot be built")
    monkeypatch.setattr(optim_mod, "FUSED_ADAGRAD", fused_kernel)
    sqrt = correctly_rounded_sqrt if fused_kernel else torch.sqrt
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
                        s.write(p.data, leaf.detach().addcdiv(g, sqrt(acc).add_(1e-2), value=-0.1))
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name


def test_row_sparse_adagrad_is_torchs_sparse_adagrad_bitwise_on_the_rows_only():
    """Duplicate rows in a batch, rows untouched for some steps, lr decay, and a state dict that either
    optimizer loads: the same weights and accumulators to the last bit."""
    gen = torch.Generator().manual_seed(0)
    w0 = torch.randn(1000, 4, generator=gen)
    batches = [torch.randint(0, 1000, (64,), generator=gen) for _ in range(6)]
    batches[1][:10] = batches[1][10:20]
    runs = {}
    for cls in (torch.optim.Adagrad, RowSparseAdagrad):
        emb = torch.nn.Embedding(1000, 4, sparse=True)
        emb.weight.data.copy_(w0)
        opt = cls([emb.weight], lr=0.12, eps=1e-2, lr_decay=0.01)
        for i, idx in enumerate(batches):
            if i == 3:  # continue from the other optimizer's state
                other = RowSparseAdagrad if cls is torch.optim.Adagrad else torch.optim.Adagrad
                fresh = other([emb.weight], lr=0.12, eps=1e-2, lr_decay=0.01)
                fresh.load_state_dict(opt.state_dict())
                opt = fresh
            opt.zero_grad()
            (emb(idx).sum(1) ** 2).sum().backward()
            with torch.sparse.check_sparse_tensor_invariants(enable=False):  # opted out as the Trainer does
                opt.step()
        runs[cls] = emb.weight.detach(), opt.state_dict()["state"][0]["sum"]
    (w_torch, s_torch), (w_rows, s_rows) = runs.values()
    assert not torch.equal(w_torch, w0)
    assert torch.equal(w_torch, w_rows) and torch.equal(s_torch, s_rows)


def test_row_sparse_adagrad_leaves_dense_gradients_to_torch():
    w = torch.nn.Parameter(torch.ones(3))
    opt = RowSparseAdagrad([w], lr=0.5)
    w.grad = torch.tensor([1.0, 0.0, -2.0])
    opt.step()
    torch.testing.assert_close(w.detach(), torch.tensor([0.5, 1.0, 1.5]))  # Adagrad's first step: lr * sign


def test_row_sparse_adagrad_steps_each_group_once_when_one_group_is_dense():
    """A sparse group beside a dense one: torch's step for both, the sparse group not stepped twice."""
    emb_a, emb_b = (torch.nn.Embedding(10, 2, sparse=True) for _ in range(2))
    emb_b.weight.data.copy_(emb_a.weight.data)
    dense_a, dense_b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opts = [
        cls([{"params": [emb.weight]}, {"params": [dense]}], lr=0.5)
        for cls, emb, dense in ((torch.optim.Adagrad, emb_a, dense_a), (RowSparseAdagrad, emb_b, dense_b))
    ]
    for opt, emb, dense in zip(opts, (emb_a, emb_b), (dense_a, dense_b), strict=True):
        emb(torch.tensor([1, 3])).sum().backward()
        dense.grad = torch.tensor([1.0, 0.0, -2.0])
        opt.step()
    assert torch.equal(emb_a.weight, emb_b.weight) and torch.equal(dense_a, dense_b)
    assert int(opts[1].state[emb_b.weight]["step"]) == 1


def test_row_sparse_adagrad_with_maximize_ascends_as_torch_does():
    emb_a, emb_b = (torch.nn.Embedding(10, 2, sparse=True) for _ in range(2))
    emb_b.weight.data.copy_(emb_a.weight.data)
    for cls, emb in ((torch.optim.Adagrad, emb_a), (RowSparseAdagrad, emb_b)):
        opt = cls([emb.weight], lr=0.1, maximize=True)
        emb(torch.tensor([1, 3])).sum().backward()
        with torch.sparse.check_sparse_tensor_invariants(enable=False):
            opt.step()
    assert torch.equal(emb_a.weight, emb_b.weight)


def test_sliced_adagrad_refuses_a_plain_view() -> None:
    """A plain view's gradients land on the supernet's parameters, which the sliced step never reads: training
    would silently not train."""
    net = Supernet(SPACE, SMALL)
    view = net.view(sample(SPACE, "any-path", 0))
    view(*batch(SMALL)[:2]).sum().backward()
    with pytest.raises(ValueError, match=r"^SlicedAdagrad\.step\(view\) needs a view in local-gradient mode"):
        SlicedAdagrad(net, lr=0.1).step(view)
