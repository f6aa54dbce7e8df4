"""The fused CPU LayerNorm kernel (nasrec/compiler/fused.py, csrc/layer_norm.h) computes `F.layer_norm` over
the last axis: outputs and gradients match torch's up to float rounding, are as close to a float64 reference as
torch's, for every row width it takes (up to 64 floats; tails of partial vectors included) and any layout of the
input; wider rows, other dtypes and a missing bias go to torch. Skipped where the extension cannot be built."""

import pytest
import torch
import torch.nn.functional as F

from nasrec.compiler import base as compiler_base
from nasrec.compiler import compile_standalone, fused
from nasrec.data.spec import FeatureSpec
from nasrec.genotype import sample

pytestmark = pytest.mark.skipif(fused.extension() is None, reason="the fused kernels cannot be built")


def run(fn, x, w, b, go):
    x, w, b = (t.detach().requires_grad_() for t in (x, w, b))
    y = fn(x, w, b)
    y.backward(go)
    return y.detach(), x.grad, w.grad, b.grad


def torch_ln(x, w, b):
    return F.layer_norm(x, (x.shape[-1],), w, b, 1e-5)


def fused_ln(x, w, b):
    assert fused.layer_norm_applies(x, w, b)
    return fused.layer_norm(x, w, b, 1e-5)


WIDTHS = [1, 2, 15, 16, 17, 26, 33, 48, 50, 64]


@pytest.mark.parametrize("c", [c for c in WIDTHS if c <= 4 * 16])
def test_matches_torch_and_a_float64_reference(c):
    if c > fused.extension().max_norm_width:
        pytest.skip(f"rows of {c} are wider than this build's kernel")
    gen = torch.Generator().manual_seed(c)
    x = torch.randn(300, 7, c, generator=gen) * 3 + 1.5  # an offset: the variance is computed in two passes
    w, b = torch.randn(c, generator=gen), torch.randn(c, generator=gen)
    go = torch.randn(300, 7, c, generator=gen)
    ref = run(torch_ln, x.double(), w.double(), b.double(), go.double())
    ours, theirs = run(fused_ln, x, w, b, go), run(torch_ln, x, w, b, go)
    for name, a, t, r in zip(("y", "dx", "dw", "db"), ours, theirs, ref, strict=True):
        assert a.shape == t.shape == r.shape, name
        err, torch_err = (a.double() - r).abs().max().item(), (t.double() - r).abs().max().item()
        assert err <= 2 * torch_err + 1e-6 * max(1.0, r.abs().max().item()), (name, err, torch_err)


def test_any_layout_and_the_rows_of_one_token():
    """A transposed (non-contiguous) input, e.g. a token axis made last, and a single row."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 16, 40, generator=gen).transpose(1, 2)  # [64, 40, 16], not contiguous
    w, b = torch.randn(16, generator=gen), torch.randn(16, generator=gen)
    go = torch.randn(64, 40, 16, generator=gen)
    for a, t in zip(run(fused_ln, x, w, b, go), run(torch_ln, x, w, b, go), strict=True):
        torch.testing.assert_close(a, t, rtol=1e-5, atol=2e-5)
    one = torch.randn(1, 16, generator=gen)
    torch.testing.assert_close(fused_ln(one, w, b), torch_ln(one, w, b), rtol=1e-5, atol=1e-5)


def test_applies_only_where_it_should(monkeypatch):
    w, b = torch.ones(16), torch.zeros(16)
    x = torch.randn(4, 16)
    assert fused.layer_norm_applies(x, w, b)
    assert not fused.layer_norm_applies(x.double(), w.double(), b.double())
    assert not fused.layer_norm_applies(x, w, None)
    wide = fused.extension().max_norm_width + 1
    assert not fused.layer_norm_applies(torch.randn(4, wide), torch.ones(wide), torch.zeros(wide))
    monkeypatch.setattr(fused, "ENABLED", False)
    assert not fused.layer_norm_applies(x, w, b)


def test_rows_of_up_to_64_floats_on_avx2_as_on_avx512():
    """Every operator row width of the NASRec spaces (16-64 floats) takes the kernel on a CPU with AVX2, whose
    8-float vectors need 5-8 of them for the wider rows (the backward streams those: `backward_row_streamed`)."""
    with open("/proc/cpuinfo") as f:
        flags = next((line for line in f if line.startswith("flags")), "").split()
    if "avx2" not in flags:
        pytest.skip("a CPU without AVX2")
    assert fused.extension().max_norm_width == 64
    x = torch.randn(8, 64)
    assert fused.layer_norm_applies(x, torch.ones(64), torch.zeros(64))


def test_a_model_through_either_path(monkeypatch):
    """A NASRec-Full subnet's outputs and every parameter's gradient, fused LayerNorm against `F.layer_norm`."""
    features = FeatureSpec.synthetic(3, [50, 40, 30, 20])
    torch.manual_seed(0)
    model = compile_standalone(sample("nasrec-full", "single-operator-any-connection", 1), features)
    dense, sparse = torch.rand(32, 3), torch.randint(0, 20, (32, 4))
    calls = []
    real = fused.layer_norm
    monkeypatch.setattr(fused, "layer_norm", lambda *a: calls.append(a[0].shape[-1]) or real(*a))

    def outputs_and_grads():
        model.zero_grad()
        out = model(dense, sparse)
        out.sum().backward()
        return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    fast, fast_grads = outputs_and_grads()
    assert len(calls) >= 3 and 16 in calls  # token LayerNorms (width 16) and others ran through the kernel
    n_fused = len(calls)
    monkeypatch.setattr(compiler_base, "NATIVE_NORM", True)
    slow, slow_grads = outputs_and_grads()
    assert len(calls) == n_fused  # the previous path never called the kernel
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    assert fast_grads.keys() == slow_grads.keys()
    for name in fast_grads:
        torch.testing.assert_close(fast_grads[name], slow_grads[name], rtol=1e-4, atol=1e-5, msg=name)
