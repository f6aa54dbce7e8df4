"""The supernet's dense parameters as views of one flat buffer: positions, the indexed path, old checkpoints."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch

from nasrec.compiler import Supernet
from nasrec.compiler import flat as flat_mod
from nasrec.compiler.base import Slicer
from nasrec.compiler.flat import ALIGN, FlatParams, padded_sizes
from nasrec.compiler.optim import SlicedAdagrad
from nasrec.genotype import sample
from tests.compiler.helpers import SMALL, batch, randomise
from tests.compiler.test_optim import SPACE


def _params_are_views(net: Supernet) -> bool:
    data = net.flat.data
    return net.flat.intact() and all(
        p.untyped_storage().data_ptr() == data.untyped_storage().data_ptr()
        for n, p in net.named_parameters()
        if not n.startswith("embedding.")
    )


def test_positions_are_the_slicers_elements_in_order() -> None:
    gen = torch.Generator().manual_seed(0)
    a, b, c = (torch.nn.Parameter(torch.randn(s, generator=gen)) for s in [(5, 7), (6,), (3, 4, 5)])
    flat = FlatParams([("a", a), ("b", b), ("c", c)])
    slices = [
        (a, Slicer((5, 7), (3, (0, 4, 2)))),  # prefix rows, gathered columns
        (b, Slicer((6,), (4,))),
        (a, Slicer((5, 7), ((1, 3), 6))),  # gathered rows
        (c, Slicer((3, 4, 5), (2, (3, 1), 4))),
        (b, Slicer((6,), ((5, 2),))),
        (c, Slicer((3, 4, 5), (3, 4, 5))),  # the whole parameter
    ]
    sizes, where = padded_sizes([s(p.detach()).numel() for p, s in slices])
    pieces = flat.data[flat.positions(slices)].split(sizes)
    for i, (p, s) in zip(where, slices, strict=True):
        assert torch.equal(pieces[i], s(p.detach()).reshape(-1))  # distinct values: the right elements
    assert sizes == [9, 7, 4, 12, 12, 4, 16, 2, 14, 60] and where == [0, 2, 4, 6, 7, 9]  # gaps to multiples of 16
    gaps = [t for i, t in enumerate(pieces) if i not in where]
    assert all((t == flat.data[flat.spare]).all() for t in gaps) and flat.data[flat.spare] == 0
    assert flat.positions([]).numel() == 0


def test_leaves_are_aligned_views_of_one_leaf(monkeypatch: pytest.MonkeyPatch) -> None:
    net = Supernet(SPACE, SMALL)
    for indexed in (False, True):
        monkeypatch.setattr(flat_mod, "INDEXED_DEVICES", frozenset({"cpu"} if indexed else ()))
        view = net.view(sample(SPACE, "any-path", 1)).set_local_grads()
        view(*batch(SMALL)[:2])
        assert view.flat_leaf is not None
        leaves = view.split(view.flat_leaf)
        assert all(t.data_ptr() % (ALIGN * 4) == 0 for t in leaves)
        for (_, _, p, s), t in zip(view.layout, leaves, strict=True):
            assert torch.equal(t, s(p.detach()))


def test_parameters_stay_views_of_the_buffer() -> None:
    net = Supernet(SPACE, SMALL)
    assert _params_are_views(net)
    assert net.flat.data.numel() == net.num_dense_params() + 1  # a spare element
    assert _params_are_views(copy.deepcopy(net))
    net.double()  # every parameter is replaced by a copy: the buffer is remade
    assert net.flat.data.dtype == torch.float64 and _params_are_views(net)
    net.load_state_dict(copy.deepcopy(net.state_dict()), assign=True)
    assert _params_are_views(net)


def test_pickle_writes_each_parameter_once_and_the_copy_is_flat_again() -> None:
    """Plain pickle (multiprocessing, Ray) of views writes the whole buffer per view: the supernet pickles its
    parameters as compact copies, and the unpickled one computes the same and is flat again."""
    net = Supernet(SPACE, SMALL)
    randomise(net)
    floats = sum(p.numel() for p in net.parameters())
    data = pickle.dumps(net)
    assert floats * 4 < len(data) < floats * 4 * 1.1 + 200_000
    back = pickle.loads(data)
    assert _params_are_views(back) and _params_are_views(net)
    g = sample(SPACE, "any-path", 2)
    dense, sparse = batch(SMALL)[:2]
    net.eval(), back.eval()
    assert torch.equal(net(dense, sparse, g), back(dense, sparse, g))


@pytest.mark.parametrize("indexed", [False, True])
def test_flat_update_matches_per_parameter_update(indexed: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several steps with different views: SlicedAdagrad on the flat buffer (by index, or slice by slice) ==
    Adagrad applied parameter by parameter to leaves copied from the slices (the update before the buffer)."""
    monkeypatch.setattr(flat_mod, "INDEXED_DEVICES", frozenset({"cpu"} if indexed else ()))
    a = Supernet(SPACE, SMALL)
    randomise(a, seed=7)
    ref = {n: p.detach().clone() for n, p in a.named_parameters()}
    sums = {n: torch.zeros_like(p) for n, p in ref.items()}
    names = {id(p): n for n, p in a.named_parameters()}
    opt = SlicedAdagrad(a, lr=0.1, eps=1e-2)
    loss = torch.nn.BCEWithLogitsLoss()
    for step in range(4):
        view = a.view(sample(SPACE, "any-path", step % 3)).set_local_grads()  # step 3 revisits step 0's slices
        dense, sparse, label = batch(SMALL, seed=step)
        loss(view(dense, sparse), label).backward()
        grads = view.split(view.flat_leaf.grad)
        with torch.no_grad():
            for (_, _, p, s), g in zip(view.layout, grads, strict=True):
                n = names[id(p)]
                acc = s(sums[n]).addcmul_(g, g)
                s.write(sums[n], acc)
                s.write(ref[n], s(ref[n]).addcdiv(g, acc.sqrt().add_(1e-2), value=-0.1))
        opt.step(view)
    for n, p in a.named_parameters():
        torch.testing.assert_close(p.detach(), ref[n], atol=1e-6, rtol=0, msg=lambda m, n=n: f"{n}: {m}")
    for n, t in opt.state_dict()["sums"].items():  # type: ignore[union-attr]
        torch.testing.assert_close(t, sums[n], atol=1e-6, rtol=0)


def test_a_checkpoint_of_separate_tensors_loads() -> None:
    """Files written before the buffer hold one tensor per parameter (and Adagrad sums for the touched ones
    only): they load into the buffer, and what is saved now has the same keys and shapes."""
    old = Supernet(SPACE, SMALL)
    randomise(old, seed=1)
    touched = [n for n, _ in old.named_parameters() if not n.startswith("embedding.")][:3]
    before = {
        "model": {n: t.detach().clone() for n, t in old.state_dict().items()},
        "opt": {"lr": 0.1, "eps": 0.01, "sums": {n: torch.full_like(old.get_parameter(n), 2.0) for n in touched}},
    }
    buf = io.BytesIO()
    torch.save(before, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    net = Supernet(SPACE, SMALL)
    net.load_state_dict(state["model"])
    assert _params_are_views(net)
    for n, t in net.state_dict().items():
        assert torch.equal(t, before["model"][n]), n
    opt = SlicedAdagrad(net, lr=0.5, eps=0.5)
    opt.load_state_dict(state["opt"])
    assert (opt.lr, opt.eps) == (0.1, 0.01)
    sums = opt.state_dict()["sums"]
    assert isinstance(sums, dict) and set(sums) == set(before["model"]) - {"embedding.table.weight"}
    for n, t in sums.items():
        assert torch.equal(t, torch.full_like(t, 2.0 if n in touched else 0.0)), n


def test_views_after_an_assigning_load_compute_with_the_loaded_weights() -> None:
    a, b = Supernet(SPACE, SMALL), Supernet(SPACE, SMALL)
    randomise(a, seed=1)
    randomise(b, seed=2)
    g = sample(SPACE, "any-path", 0)
    dense, sparse = batch(SMALL)[:2]
    before = a.view(g)(dense, sparse)  # caches the view and its slicers
    a.load_state_dict(b.state_dict(), assign=True)
    torch.testing.assert_close(a.view(g)(dense, sparse), b.view(g)(dense, sparse), rtol=0, atol=0)
    assert not torch.equal(before, b.view(g)(dense, sparse))


def test_a_cached_local_gradient_view_leaves_the_plain_call_on_autograd() -> None:
    """Supernet training caches local-gradient views: `supernet(dense, sparse, genotype)` still gets its own plain
    view, whose backward reaches the supernet's parameters (it reused the training's view, whose gradient went
    to a throwaway leaf), and a local-gradient view's head weights are the sliced ones before any forward."""
    net = Supernet(SPACE, SMALL)
    g = sample(SPACE, "any-path", 1)
    dense, sparse = batch(SMALL)[:2]
    local = net.cached_view(g, local_grads=True)
    assert local is net.cached_view(g, local_grads=True) and local.local_grads
    local(dense, sparse).sum().backward()
    assert all(p.grad is None for n, p in net.named_parameters() if not n.startswith("embedding."))
    net.zero_grad(set_to_none=True)
    net(dense, sparse, g).sum().backward()
    grads = [p.grad for n, p in net.named_parameters() if not n.startswith("embedding.")]
    assert sum(t is not None for t in grads) > 0
    plain = net.view(g)
    fresh = net.view(g).set_local_grads()
    assert all(torch.equal(a, b) for a, b in zip(fresh.head_weights(), plain.head_weights(), strict=True))
