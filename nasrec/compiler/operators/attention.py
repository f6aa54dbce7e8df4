"""Attention: token projection N -> S (Linear, LN over S; bias iff LN off), then one Transformer encoder
layer on the S tokens: multi-head self-attention (E-dim tokens, 8 heads, with biases), residual, LayerNorm(E),
feed-forward E -> E -> E with ReLU, residual, LayerNorm(E). The two LayerNorms over E exist whatever the
LayerNorm option, with weights initialised to 0.17 (reference rule). No dropout.

Heads are E / 8 = 2 wide. On CPU the attention core is `nasrec.compiler.fused.fused_attention` (a fused
kernel for narrow heads, reading the projection's output in place) where it applies; elsewhere torch's SDPA,
with q, k, v taken from the projection by `unbind` (docs/training.md, "Training throughput")."""

from __future__ import annotations

import torch.nn.functional as F

from nasrec.compiler import fused
from nasrec.compiler.base import Operator, linear, linear_params, norm, norm_params, token_linear
from nasrec.compiler.operators.efc import token_projection_params
from nasrec.compiler.registry import register_operator
from nasrec.errors import UsageError

HEADS = 8
SELECT_QKV = False
"""True: the code path before issue 18 (SDPA on `qkv[0], qkv[1], qkv[2]`; `previous_code_path`)."""


@register_operator("attention")
class Attention(Operator):
    def params(self, spec):
        e = spec.emb_dim
        if e % HEADS:
            raise UsageError(
                f"attention splits tokens into {HEADS} heads: the embedding dim must be a multiple of {HEADS}, got {e}"
            )
        out = token_projection_params(spec)
        out |= linear_params("qkv", 3 * e, e, bias=True)
        out |= linear_params("attn_out", e, e, bias=True)
        out |= norm_params("ln1", e, weight=0.17)
        out |= linear_params("ff1", e, e, bias=True)
        out |= linear_params("ff2", e, e, bias=True)
        out |= norm_params("ln2", e, weight=0.17)
        return out

    def forward(self, p, x, spec):
        # [B, S, E], made contiguous once: else the residual sums keep the transposed layout and every LayerNorm,
        # the qkv projection and their backward copy it again
        h = norm(p, "tok_ln", token_linear(p, "tok", x.sparse)).transpose(1, 2).contiguous()
        b, s, e = h.shape
        qkv = linear(p, "qkv", h).view(b, s, 3, HEADS, e // HEADS)
        if not SELECT_QKV and fused.attention_applies(qkv):
            a = fused.fused_attention(qkv).view(b, s, e)
        else:
            qkv = qkv.permute(2, 0, 3, 1, 4)
            q, k, v = (qkv[0], qkv[1], qkv[2]) if SELECT_QKV else qkv.unbind(0)
            a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, s, e)  # [B, S, E]
        h = norm(p, "ln1", h + linear(p, "attn_out", a))
        return norm(p, "ln2", h + linear(p, "ff2", F.relu(linear(p, "ff1", h))))
