"""Every registered operator (and both mergers) through the same checks, timm style: a new operator is tested
the moment it is registered."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasrec.compiler import OpInputs, Supernet, count_flops, get_operator, list_operators
from nasrec.compiler.context import BuildContext
from nasrec.compiler.network import _cat_tokens
from nasrec.compiler.operators import MERGER_OPERATORS
from nasrec.genotype import NASREC_SMALL, SearchSpace, sample
from nasrec.registry import UnknownNameError
from tests.compiler.helpers import SMALL, assert_equivalent, randomise


def space_for(op: str) -> SearchSpace:
    branch = get_operator(op).branch
    return SearchSpace(
        name=f"test-{op}",
        num_blocks=3,
        dense_ops=(op,) if branch == "dense" else ("fc",),
        sparse_ops=(op,) if branch == "sparse" else ("efc",),
        dense_dims=(16, 24, 128),
        sparse_dims=(4, 8),
    )


class _Wrap(torch.nn.Module):
    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, dense, sparse, left, right):
        return self.module(OpInputs(dense, sparse, left, right))


@pytest.mark.parametrize("name", list_operators())
@pytest.mark.parametrize("layernorm", [True, False], ids=["ln", "no-ln"])
def test_operator(name: str, layernorm: bool) -> None:
    space = space_for(name)
    net = Supernet(space, SMALL, layernorm=layernorm)
    randomise(net, seed=1, gain=1.0 if layernorm else 0.5)
    rng = np.random.default_rng(0)
    for sampler in ("single-operator-any-connection", "single-path", "any-path", "all-operators"):
        g = sample(space, sampler, rng)
        assert_equivalent(net, g, SMALL)
    # shapes and backward of the operator alone, at an exact spec
    ctx = BuildContext.from_space(space, SMALL, layernorm)
    op = get_operator(name)
    from nasrec.compiler.context import OpSpec

    reads = op.reads
    spec = OpSpec(
        dim=24 if op.branch == "dense" else 8,
        dense=(ctx.dense_source(0, 3), ctx.dense_source(1, 16)) if "dense" in reads else (),
        sparse=(ctx.sparse_source(0, 4, False), ctx.sparse_source(1, 8, True)) if "sparse" in reads else (),
        left=ctx.dense_source(0, 3) if "pair" in reads else None,
        right=ctx.dense_source(1, 16) if "pair" in reads else None,
        layernorm=layernorm,
    )

    class _Ref:
        pass

    ref = _Ref()
    ref.spec = spec
    module = op.build(spec)
    b = 5
    inputs = (
        torch.randn(b, ref.spec.dense_width),
        torch.randn(b, ref.spec.tokens, ctx.emb_dim),
        torch.randn(b, ref.spec.left.width if ref.spec.left else 1),
        torch.randn(b, ref.spec.right.width if ref.spec.right else 1),
    )
    for t in inputs:
        t.requires_grad_(True)
    out = _Wrap(module)(*inputs)
    expected = (b, ref.spec.dim) if op.branch == "dense" else (b, ref.spec.dim, ctx.emb_dim)
    assert out.shape == expected
    out.square().sum().backward()
    assert all(p.grad is not None for p in module.parameters())
    read = {"dense": [inputs[0]], "sparse": [inputs[1]], "pair": [inputs[2], inputs[3]]}
    assert all(t.grad is not None for r in op.reads for t in read[r])
    assert count_flops(_Wrap(module), tuple(t.detach() for t in inputs)) > 0


@pytest.mark.parametrize("name", sorted(MERGER_OPERATORS))
def test_merger(name: str) -> None:
    merger = MERGER_OPERATORS[name]
    from nasrec.compiler.context import OpSpec

    for dim in (16, 32, 128):
        module = merger.build(OpSpec(dim=dim))
        x = OpInputs(dense=torch.randn(4, dim), sparse=torch.randn(4, 6, 16))
        out = module(x)
        assert out.shape == ((4, 8, 16) if name == "dense_to_sparse" else (4, dim))
        skipped = (name == "dense_to_sparse" and dim == 128) or (name == "sparse_to_dense" and dim == 16)
        assert ("proj_w" in module.defs) != skipped
        assert (module.defs == {}) == skipped  # a skipped projection takes its LayerNorm with it
    assert (
        count_flops(
            _Wrap(merger.build(OpSpec(dim=32))),
            (torch.randn(1, 32), torch.randn(1, 6, 16), torch.randn(1, 1), torch.randn(1, 1)),
        )
        > 0
    )


def test_registry_rejects_duplicates_and_unknowns() -> None:
    from nasrec.compiler import register_operator
    from nasrec.compiler.operators.fc import FC

    with pytest.raises(ValueError, match="already registered"):
        register_operator("fc")(FC)
    with pytest.raises(UnknownNameError, match=r"^unknown operator implementation 'no-such-op' \(known: "):
        get_operator("no-such-op")
    assert list_operators("*t*") == ["attention", "dot", "gating"]
    assert set(list_operators(branch="sparse")) >= {"efc", "attention"}


def test_token_concat_is_the_plain_concat_stored_tokens_last():
    """A block's sparse inputs join along the token axis with the same values as `torch.cat(parts, 1)`, laid
    out so that the operators' Linear over the token axis reads a contiguous [B, E, T] (no copy)."""
    parts = [torch.randn(4, 3, 5), torch.randn(4, 5, 2).transpose(1, 2), torch.randn(4, 1, 5)]  # one a view
    joined = _cat_tokens(parts)
    assert joined.shape == (4, 6, 5) and torch.equal(joined, torch.cat(parts, 1))
    assert joined.transpose(1, 2).is_contiguous()
    assert _cat_tokens(parts[:1]) is parts[0]  # one input: passed through as it is


def test_attention_on_embeddings_its_heads_do_not_divide_is_refused_when_built():
    from nasrec.compiler import compile_standalone
    from nasrec.data.spec import FeatureSpec

    spec = FeatureSpec.synthetic(13, [10] * 26, embedding_dim=12)
    with pytest.raises(
        ValueError, match=r"^attention splits tokens into 8 heads: the embedding dim must be a multiple"
    ):
        compile_standalone(sample(space_for("attention"), "all-operators", 0), spec)
    with pytest.raises(ValueError, match=r"multiple of 8, got 12"):
        Supernet(space_for("attention"), spec)


@pytest.mark.parametrize(
    ("dense_width", "sparse_shape", "message"),
    [
        (5, (2, 4), "dense input must be [batch, 3] (the model's 3 dense features), got [2, 5]"),
        (2, (2, 4), "dense input must be [batch, 3] (the model's 3 dense features), got [2, 2]"),
        (
            3,
            (2, 1),
            "sparse input must be [2, 4] (one index per sparse field, as many rows as the dense input), got [2, 1]",
        ),
        (
            3,
            (3, 4),
            "sparse input must be [2, 4] (one index per sparse field, as many rows as the dense input), got [3, 4]",
        ),
    ],
)
def test_a_batch_of_the_wrong_width_is_refused_by_the_model_and_the_supernet(dense_width, sparse_shape, message):
    """The operators would zero-pad a narrow dense input and cut a wide one, and a [B, 1] sparse input would
    broadcast one index to every field: each is refused, naming the shape expected."""
    from nasrec.compiler import compile_standalone

    genotype = sample(NASREC_SMALL, rng=0)
    dense, sparse = torch.rand(2, dense_width), torch.zeros(sparse_shape, dtype=torch.long)
    supernet = Supernet(NASREC_SMALL, SMALL)
    models = [compile_standalone(genotype, SMALL), supernet.view(genotype)]
    for run_model in (*models, models[0].compiled_forward()):
        with pytest.raises(ValueError) as err:
            run_model(dense, sparse)
        assert str(err.value) == message
    ok = torch.rand(2, 3), torch.zeros(2, 4, dtype=torch.long)
    assert models[0](*ok).shape == models[1](*ok).shape == (2,)


@pytest.mark.parametrize(
    ("dense_dtype", "sparse_dtype", "message"),
    [
        (torch.float64, torch.long, "dense input must be float32 (the model's dtype), got float64"),
        (torch.int64, torch.long, "dense input must be float32 (the model's dtype), got int64"),
        (torch.float32, torch.float32, "sparse input must be integer indices (int64), got float32"),
        (torch.float32, torch.bool, "sparse input must be integer indices (int64), got bool"),
    ],
)
def test_a_batch_of_the_wrong_dtype_is_refused_naming_what_to_pass(dense_dtype, sparse_dtype, message):
    """numpy's float64 rows gave torch's "expected m1 and m2 to have the same dtype" from deep in an operator."""
    from nasrec.compiler import compile_standalone

    genotype = sample(NASREC_SMALL, rng=0)
    dense, sparse = torch.zeros(2, 3, dtype=dense_dtype), torch.zeros(2, 4, dtype=sparse_dtype)
    models = [compile_standalone(genotype, SMALL), Supernet(NASREC_SMALL, SMALL).view(genotype)]
    for run_model in (*models, models[0].compiled_forward()):
        with pytest.raises(ValueError) as err:
            run_model(dense, sparse)
        assert str(err.value) == message
    double = compile_standalone(genotype, SMALL).double()  # a model of another dtype takes its own
    assert double(torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, 4, dtype=torch.int32)).dtype == torch.float64
