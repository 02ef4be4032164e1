"""Grouped-query attention without repeating keys and values for every query head.

TransformerLens 3.x computes GQA scores and outputs by `repeat_interleave`-ing K and V from the
key-value heads to all query heads: a copy of the whole KV cache in every layer at every decode
step (SmolLM2-135M: 3 KV heads for 9 query heads). Here each key-value head attends for its
group of query heads in one matmul, on views of K and V; the dot products are the same, so
outputs agree with TL's to float rounding, and every hook (`hook_z`, `hook_pattern`, ...) sees
the same shapes and values.
"""

import types

from einops import rearrange
from transformer_lens.components import GroupedQueryAttention
from transformer_lens.utilities import apply_softcap

from mechrefusal._typing import Float, Tensor


def _grouped_scores(
    self,
    q: Float[Tensor, "batch query_pos head_index d_head"],
    k: Float[Tensor, "batch key_pos kv_head_index d_head"],
) -> Float[Tensor, "batch head_index query_pos key_pos"]:
    """TL's `calculate_attention_scores` with query heads grouped by their key-value head."""
    groups = k.shape[2]
    q_ = rearrange(q, "b q (g r) d -> b g (r q) d", g=groups)
    k_ = rearrange(k, "b k g d -> b g d k")
    scores = rearrange(q_ @ k_, "b g (r q) k -> b (g r) q k", q=q.shape[1]) / self.attn_scale
    return apply_softcap(scores, self.cfg.attn_scores_soft_cap)


def _grouped_z(
    self,
    v: Float[Tensor, "batch key_pos kv_head_index d_head"],
    pattern: Float[Tensor, "batch head_index query_pos key_pos"],
) -> Float[Tensor, "batch query_pos head_index d_head"]:
    """TL's `calculate_z_scores` with query heads grouped by their key-value head."""
    groups = v.shape[2]
    pattern_ = rearrange(pattern, "b (g r) q k -> b g (r q) k", g=groups)
    v_ = rearrange(v, "b k g d -> b g k d")
    z = rearrange(pattern_ @ v_, "b g (r q) d -> b q (g r) d", q=pattern.shape[2])
    return self.hook_z(z)


def group_query_heads(model):
    """Compute every grouped-query attention of `model` on its key-value heads (in place)."""
    for module in model.modules():
        if (
            isinstance(module, GroupedQueryAttention)
            and not module.cfg.ungroup_grouped_query_attention
        ):
            module.calculate_attention_scores = types.MethodType(_grouped_scores, module)
            module.calculate_z_scores = types.MethodType(_grouped_z, module)
    return model
