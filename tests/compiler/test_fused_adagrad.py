"""The fused Adagrad kernel (nasrec/compiler/fused.py, csrc/adagrad.h) is torch's dense Adagrad update, rounded
the same way operation by operation except for the square root (IEEE's, where torch's CPU sqrt is a vector
library's): bitwise equal to that formula, within a unit in the last place of torch's foreach Adagrad, on whole
tensors and on narrowed views. Skipped where the extension cannot be built."""

import pytest
import torch

from nasrec.compiler import fused

pytestmark = pytest.mark.skipif(fused.extension() is None, reason="the fused kernels cannot be built")
LR, EPS = 0.12, 1e-2


def tensors(seed: int):
    gen = torch.Generator().manual_seed(seed)
    base_p = [torch.randn(shape, generator=gen) for shape in [(300, 70), (1000,), (), (9, 33)]]
    base_s = [torch.rand(t.shape, generator=gen) * 3 for t in base_p]
    return base_p, base_s


def slices(ts):
    """Whole tensors and views: rows and columns narrowed (strided rows), a prefix, a 0-d tensor."""
    return [ts[0][:250, 5:60], ts[1][:777], ts[2], ts[3]]


def reference(p, s, g):
    """torch's update with IEEE's sqrt: addcmul_ is fma(g, g, s), addcdiv_ is p + (value * g) / std."""
    s.addcmul_(g, g)
    std = s.double().sqrt().float().add_(EPS)
    p.addcdiv_(g, std, value=-LR)


@pytest.mark.parametrize("seed", [0, 1])
def test_bitwise_the_formula_and_within_an_ulp_of_torch(seed):
    base_p, base_s = tensors(seed)
    ours_p, ours_s = [t.clone() for t in base_p], [t.clone() for t in base_s]
    ref_p, ref_s = [t.clone() for t in base_p], [t.clone() for t in base_s]
    torch_p, torch_s = [t.clone() for t in base_p], [t.clone() for t in base_s]
    gen = torch.Generator().manual_seed(100 + seed)
    for _ in range(3):
        grads = [torch.randn(v.shape, generator=gen) for v in slices(base_p)]
        assert fused.adagrad_applies(slices(ours_p), slices(ours_s))
        fused.adagrad_step(slices(ours_p), slices(ours_s), grads, LR, EPS)
        for p, s, g in zip(slices(ref_p), slices(ref_s), grads, strict=True):
            reference(p, s, g)
        ps, ss = slices(torch_p), slices(torch_s)
        torch._foreach_addcmul_(ss, grads, grads)
        std = torch._foreach_sqrt(ss)
        torch._foreach_add_(std, EPS)
        torch._foreach_addcdiv_(ps, grads, std, value=-LR)
    for ours, ref, theirs in zip(ours_p + ours_s, ref_p + ref_s, torch_p + torch_s, strict=True):
        assert torch.equal(ours, ref)
        torch.testing.assert_close(ours, theirs, rtol=2e-7, atol=1e-7)
    assert torch.equal(ours_p[0][250:], base_p[0][250:]) and torch.equal(ours_p[0][:, :5], base_p[0][:, :5])
    assert torch.equal(ours_p[1][777:], base_p[1][777:])  # outside the views: untouched


def test_applies_only_where_it_should(monkeypatch):
    p, s = torch.zeros(4, 6), torch.zeros(4, 6)
    assert fused.adagrad_applies([p, p[:, :3]], [s, s[:, :3]])
    assert not fused.adagrad_applies([p.double()], [s.double()])
    assert not fused.adagrad_applies([torch.zeros(2, 3, 4)], [torch.zeros(2, 3, 4)])  # at most 2 axes
    assert not fused.adagrad_applies([p[:, :3]], [s[:, :3].contiguous()])  # strides differ
    assert not fused.adagrad_applies([p.t()], [s.t()])  # last axis not contiguous
    monkeypatch.setattr(fused, "ENABLED", False)
    assert not fused.adagrad_applies([p], [s])


def test_mismatched_shapes_are_named():
    with pytest.raises(RuntimeError, match="fused adagrad: param, sum and grad shapes differ"):
        fused.adagrad_step([torch.zeros(3)], [torch.zeros(3)], [torch.zeros(4)], LR, EPS)
