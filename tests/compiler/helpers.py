"""Shared helpers of the compiler tests: small feature specs, randomised supernets, equivalence checks."""

from __future__ import annotations

import torch

from nasrec.compiler import Supernet, compile_standalone
from nasrec.data.spec import FeatureSpec
from nasrec.genotype import NASREC_FULL, NASREC_SMALL
from nasrec.genotype.schema import Genotype

SMALL = FeatureSpec.synthetic(3, [50, 50, 50, 50])
PRESET_SPACES = {"small": NASREC_SMALL, "full": NASREC_FULL}
_SUPERNETS: dict[tuple[str, bool], Supernet] = {}


def preset_supernet(space: str, layernorm: bool) -> Supernet:
    """A randomised supernet of a preset (`small`, `full`) over SMALL, built once per test session."""
    key = (space, layernorm)
    if key not in _SUPERNETS:
        net = Supernet(PRESET_SPACES[space], SMALL, layernorm=layernorm)
        randomise(net, seed=2 * sorted(PRESET_SPACES).index(space) + layernorm, gain=1.0 if layernorm else 0.2)
        _SUPERNETS[key] = net
    return _SUPERNETS[key]


def randomise(module: torch.nn.Module, seed: int = 0, gain: float = 1.0) -> None:
    """Non-default parameters everywhere, so zero/one initialisations cannot hide a wrong slice."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            scale = gain * p.shape[-1] ** -0.5 if p.dim() > 1 else 0.3
            p.copy_(torch.randn(p.shape, generator=gen) * scale)


def batch(features: FeatureSpec, n: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    dense = torch.rand(n, features.n_dense, generator=gen) * 3
    sparse = torch.stack([torch.randint(0, 2 * c, (n,), generator=gen) for c in features.cardinalities], 1)
    return dense, sparse, torch.randint(0, 2, (n,), generator=gen).float()


def dense_grad(p: torch.Tensor) -> torch.Tensor | None:
    g = p.grad
    return g.to_dense() if g is not None and g.is_sparse else g


def assert_equivalent(
    supernet: Supernet, genotype: Genotype, features: FeatureSpec, atol: float = 1e-5, local: bool = False
) -> None:
    """Same outputs and same gradients (mapped back to the super slices) for the view and the inheriting
    standalone model. `local`: the view runs in local-gradient mode (gradients on exact-size leaves)."""
    dense, sparse, label = batch(features)
    view = supernet.view(genotype).set_local_grads(local)
    model = compile_standalone(genotype, features, inherit=supernet)
    supernet.zero_grad(set_to_none=True)
    out_v, out_s = view(dense, sparse), model(dense, sparse)
    assert torch.isfinite(out_s).all(), "non-finite outputs: the test's randomisation is too large"
    torch.testing.assert_close(out_v, out_s, atol=atol, rtol=1e-5)
    loss = torch.nn.BCEWithLogitsLoss()
    loss(out_v, label).backward()
    loss(out_s, label).backward()
    slices = view.slices()
    if local:
        grads = {
            f"blocks.b{k}.{key}.{n}" if key != "head" else f"head.{n}": t
            for (k, key), d in view.leaf_grads().items()
            for n, t in d.items()
        }
        for name, p in model.named_parameters():
            if name in grads:
                gs, gv = p.grad, grads[name]
                if gs is None:  # one flat gradient: zeros where the standalone model has none
                    assert not gv.any(), name
                else:
                    torch.testing.assert_close(gv, gs, atol=atol, rtol=1e-4, msg=lambda m, name=name: f"{name}: {m}")
                continue
            torch.testing.assert_close(dense_grad(slices[name][0]), dense_grad(p), atol=atol, rtol=1e-4)
        return
    for name, p in model.named_parameters():
        super_p, slicer = slices[name]
        gs, gv = dense_grad(p), dense_grad(super_p)
        if gs is None:
            assert gv is None or slicer(gv).abs().max() == 0, name
            continue
        assert gv is not None, f"{name}: the view gave no gradient"
        torch.testing.assert_close(slicer(gv), gs, atol=atol, rtol=1e-4, msg=lambda m, name=name: f"{name}: {m}")
