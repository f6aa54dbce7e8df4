"""The fused CPU attention kernel (nasrec/compiler/fused.py) computes SDPA's function: outputs and gradients
match torch's SDPA up to float rounding, are as close to a float64 reference as SDPA's, and the attention
operator gives the same result through either path. Skipped where the extension cannot be built."""

import warnings

import pytest
import torch
import torch.nn.functional as F

from nasrec.compiler import compile_standalone, fused
from nasrec.compiler.operators import attention
from nasrec.data.spec import FeatureSpec
from nasrec.genotype import sample

pytestmark = pytest.mark.skipif(fused.extension() is None, reason="the fused kernels cannot be built")


def sdpa(qkv):
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    return F.scaled_dot_product_attention(q, k, v).transpose(1, 2)


def grads(fn, qkv, go):
    x = qkv.detach().requires_grad_()
    out = fn(x)
    out.backward(go)
    return out.detach(), x.grad


@pytest.mark.parametrize("s", [1, 5, 16, 17, 64, 130])
@pytest.mark.parametrize("d", [1, 2, 3, 8])
def test_matches_sdpa_and_a_float64_reference(s, d):
    gen = torch.Generator().manual_seed(s)
    qkv = torch.randn(6, s, 3, 8, d, generator=gen) * 2
    go = torch.randn(6, s, 8, d, generator=gen)
    ref_out, ref_grad = grads(sdpa, qkv.double(), go.double())
    out, grad = grads(fused.fused_attention, qkv, go)
    sdpa_out, sdpa_grad = grads(sdpa, qkv, go)
    assert out.shape == (6, s, 8, d)
    torch.testing.assert_close(out, sdpa_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, sdpa_grad, rtol=1e-4, atol=1e-4)
    err, sdpa_err = (grad.double() - ref_grad).abs().max(), (sdpa_grad.double() - ref_grad).abs().max()
    assert err <= 2 * sdpa_err + 1e-6
    assert (out.double() - ref_out).abs().max() <= 2 * (sdpa_out.double() - ref_out).abs().max() + 1e-6


def test_applies_only_where_it_should(monkeypatch):
    x = torch.randn(2, 4, 3, 8, 2)
    assert fused.attention_applies(x)
    assert not fused.attention_applies(x.double())
    assert fused.attention_applies(torch.randn(2, 4, 3, 8, 8))  # heads up to 8 wide
    assert not fused.attention_applies(torch.randn(2, 4, 3, 8, 9))
    monkeypatch.setattr(fused, "ENABLED", False)
    assert not fused.attention_applies(x)


def test_operator_through_either_path(monkeypatch):
    features = FeatureSpec.synthetic(3, [50, 40, 30, 20])
    g = sample("nasrec-full", "single-operator-any-connection", 1)
    assert any("attention" in b.sparse.ops for b in g.blocks)
    torch.manual_seed(0)
    model = compile_standalone(g, features)
    dense, sparse = torch.rand(32, 3), torch.randint(0, 20, (32, 4))
    fast = model(dense, sparse)
    with warnings.catch_warnings():  # tracing (fvcore's FLOP count, exports) sees SDPA
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, (dense, sparse), check_trace=False)
    assert "scaled_dot_product_attention" in str(traced.inlined_graph)
    monkeypatch.setattr(fused, "ENABLED", False)
    torch.testing.assert_close(fast, model(dense, sparse), rtol=1e-5, atol=1e-5)
    monkeypatch.setattr(attention, "SELECT_QKV", True)
    torch.testing.assert_close(fast, model(dense, sparse), rtol=1e-5, atol=1e-5)


def test_the_build_name_differs_per_source_location_and_text(tmp_path):
    """Two installs of nasrec share torch's extension folder: each needs its own build name, else each load
    rebuilds the other's (torch's build folder records the source path); a copy's name is stable."""
    copy = tmp_path / "a" / "csrc"
    copy.mkdir(parents=True)
    for f in fused.CSRC.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    source = copy / fused.SOURCE.name
    assert fused._machine_tag(source) == fused._machine_tag(source) != fused._machine_tag(fused.SOURCE)
    before = fused._machine_tag(source)
    header = copy / "layer_norm.h"
    header.write_bytes(header.read_bytes() + b"\n")  # same place, an included file edited
    assert fused._machine_tag(source) != before
