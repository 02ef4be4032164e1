"""Run the token prefix that every prompt of a batch shares once, not once per row.

A chat template puts the same header before every user message (SmolLM2: a 24-token system
turn, 57% of an average eval prompt), so a batch's forward repeats that work B times. Here the
prefix runs once at batch 1 into a KV cache, the cache is expanded to the batch and frozen, and
only each row's remainder runs, left-padded after the cached prefix. Positions come from the
attention mask (TransformerLens counts only attended tokens), so every real token's residual is
the ordinary forward's up to float rounding. The result is re-assembled in the ordinary
left-padded layout (`[pads][prefix][rest]`), so callers see the same shapes and positions.

Only for forwards with no hooks on the model: a hook would see a batch of 1 on the prefix pass.
Pad positions carry other (never attended) values than in the ordinary forward.
"""

import torch
from transformer_lens import TransformerLensKeyValueCache as _KVCache

from mechrefusal._typing import Float, Int, Tensor
from mechrefusal.hooks import has_active_hooks

MIN_SHARED_PREFIX = 8
"""Shorter shared prefixes are not worth a second forward call."""


def shared_prefix_length(tokens: Int[Tensor, "batch pos"], mask: Int[Tensor, "batch pos"]) -> int:
    """Tokens every row's real (attended) tokens start with, leaving each row at least one."""
    lengths = mask.sum(-1)
    shortest = int(lengths.min())
    if shortest < 2:
        return 0
    starts = tokens.shape[1] - lengths
    columns = starts[:, None] + torch.arange(shortest - 1)[None]
    aligned = tokens.gather(1, columns)  # row b's first shortest-1 real tokens
    same = (aligned == aligned[:1]).all(0)
    return int(same.long().cumprod(0).sum())


def _remainder(tokens, mask, n_prefix: int):
    """Each row without its shared prefix, still left-padded: (tokens, mask, source columns)."""
    width = tokens.shape[1] - n_prefix
    starts = (tokens.shape[1] - mask.sum(-1))[:, None]
    cols = torch.arange(width)[None].expand(tokens.shape[0], -1)
    source = torch.where(cols < starts, cols, cols + n_prefix)
    return tokens.gather(1, source), mask.gather(1, source), source


def _prefix_cache(model, prefix: Int[Tensor, "1 n_prefix"], batch: int, stop_at_layer: int):
    """KV cache of the prefix for the blocks below `stop_at_layer`, expanded and frozen."""
    cache = _KVCache.init_cache(model.cfg, prefix.device, 1)
    residual = model(
        prefix,
        attention_mask=torch.ones_like(prefix),
        past_kv_cache=cache,
        stop_at_layer=stop_at_layer,
    )
    for entry in cache.entries:
        entry.past_keys = entry.past_keys.expand(batch, -1, -1, -1)
        entry.past_values = entry.past_values.expand(batch, -1, -1, -1)
    cache.previous_attention_mask = cache.previous_attention_mask.expand(batch, -1)
    cache.freeze()
    return cache, residual


def lower_blocks(
    model, tokens: Int[Tensor, "batch pos"], mask: Int[Tensor, "batch pos"], *, stop_at_layer: int
) -> Float[Tensor, "batch pos d_model"]:
    """The residual stream after block `stop_at_layer - 1`, as `model(tokens,
    attention_mask=mask, stop_at_layer=...)` gives it, running a shared prefix once."""
    n_prefix = shared_prefix_length(tokens.cpu(), mask.cpu())
    if n_prefix < MIN_SHARED_PREFIX or tokens.shape[0] < 2 or has_active_hooks(model):
        return model(tokens, attention_mask=mask, stop_at_layer=stop_at_layer)
    device = tokens.device
    start = int(tokens.shape[1] - mask[0].sum())
    prefix = tokens[:1, start : start + n_prefix]
    cache, prefix_residual = _prefix_cache(model, prefix, tokens.shape[0], stop_at_layer)
    rest, rest_mask, source = _remainder(tokens.cpu(), mask.cpu(), n_prefix)
    rest_residual = model(
        rest.to(device),
        attention_mask=rest_mask.to(device),
        past_kv_cache=cache,
        stop_at_layer=stop_at_layer,
    )
    out = rest_residual.new_zeros(*tokens.shape, rest_residual.shape[-1])
    out.scatter_(1, source.to(device)[..., None].expand_as(rest_residual), rest_residual)
    starts = (tokens.shape[1] - mask.sum(-1)).to(device)
    prefix_cols = starts[:, None] + torch.arange(n_prefix, device=device)[None]
    out.scatter_(
        1,
        prefix_cols[..., None].expand(-1, -1, out.shape[-1]),
        prefix_residual.expand(tokens.shape[0], -1, -1),
    )
    return out
