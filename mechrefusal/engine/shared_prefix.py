"""Run the token prefix that every prompt of a batch shares once, not once per row.

A chat template puts the same header before every user message (SmolLM2: a 24-token system
turn, 57% of an average eval prompt), so a batch's forward repeats that work B times. Here the
prefix runs once at batch 1 into a KV cache, the cache is expanded to the batch, and only each
row's remainder runs, left-padded after the cached prefix. Positions come from the attention
mask (TransformerLens counts only attended tokens), so every real token's residual is the
ordinary forward's up to float rounding. Three uses:
- `lower_blocks`: the residual stream after some block, re-assembled in the ordinary
  left-padded layout (`[pads][prefix][rest]`), so callers see the same shapes and positions
  (`stored_lower_blocks` keeps it in the activation store, `store.residual_store`);
- `run_with_cache`: hooked activations at residual-stream sites, re-assembled the same way;
- `prefill`: the first step of generation; the KV cache it returns holds `[prefix][pads][rest]`
  (key order is irrelevant under the mask), so decoding continues from it unchanged.

A hook would see a batch of 1 and the prefix's own positions on the prefix pass, so nothing is
shared while a hook is attached, unless every attached hook was attached through
`positionwise_hooks` (it acts on each row and position alone, e.g. a directional ablation) or
`tail_hooks` (it touches only each row's last few tokens, e.g. a steering push; the prefix pass
runs without it).
Pad positions carry other (never attended) values than in the ordinary forward.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from transformer_lens import TransformerLensKeyValueCache as _KVCache

from mechrefusal._typing import Float, Int, Tensor
from mechrefusal.engine.hooks import SITES
from mechrefusal.store.activation_store import model_identity
from mechrefusal.store.residual_store import (
    read_residual,
    residual_identity,
    store_root,
    write_residual,
)

MIN_SHARED_PREFIX = 8
"""Shorter shared prefixes are not worth a second forward call."""

_DECLARED: dict[int, list[int]] = {}
"""id(model) -> for each attached hook declared here, the tokens each row must keep after the
prefix (1 for a positionwise hook, `tail` for a tail hook)."""
_ON_PREFIX_PASS = [False]

_SHAREABLE_SITES = tuple(f".hook_{site}" for site in SITES)
"""Hooks whose activation is [batch, pos, d_model], one row per token: re-assembled per token."""


@contextmanager
def _declared(model, fwd_hooks: list, keep: int) -> Iterator[None]:
    with model.hooks(fwd_hooks=fwd_hooks):
        _DECLARED.setdefault(id(model), []).extend([keep] * len(fwd_hooks))
        try:
            yield
        finally:
            held = _DECLARED[id(model)]
            for _ in fwd_hooks:
                held.remove(keep)
            if not held:
                del _DECLARED[id(model)]


def positionwise_hooks(model, fwd_hooks: Sequence[tuple[str, Callable]]):
    """Attach hooks that transform each (row, position) of an activation on its own, whatever
    the batch and the position index; the shared prefix may then run under them."""
    return _declared(model, list(fwd_hooks), keep=1)


def tail_hooks(model, fwd_hooks: Sequence[tuple[str, Callable]], *, tail: int):
    """Attach hooks that read and write only the last `tail` columns of every forward (indices
    counted from the end, e.g. a steering push at the last prompt token). The prefix pass runs
    without them, which is exact: each row keeps at least `tail` tokens after the prefix, so
    the hooks never touch a prefix position, and causal attention lets nothing later flow back."""
    if tail < 1:
        raise ValueError(f"tail must be >= 1, got {tail}.")
    return _declared(model, [(name, _outside_prefix_pass(fn)) for name, fn in fwd_hooks], tail)


def _outside_prefix_pass(fn: Callable) -> Callable:
    def hook(activation, hook):
        return None if _ON_PREFIX_PASS[0] else fn(activation, hook=hook)

    return hook


def _tokens_to_keep(model) -> int | None:
    """How many tokens each row must keep after a shared prefix; None: hooks forbid sharing."""
    attached = sum(len(point.fwd_hooks) for point in model.hook_dict.values())
    declared = _DECLARED.get(id(model), [])
    return max(declared, default=1) if attached == len(declared) else None


def _real_starts(mask: Int[Tensor, "batch pos"]) -> Int[Tensor, " batch"]:
    """Each left-padded row's first real column."""
    return mask.shape[1] - mask.sum(-1)


def shared_prefix_length(
    tokens: Int[Tensor, "batch pos"], mask: Int[Tensor, "batch pos"], *, keep: int = 1
) -> int:
    """Tokens every row's real (attended) tokens start with, leaving each row at least `keep`."""
    comparable = int(mask.sum(-1).min()) - keep
    if comparable < 1:
        return 0
    columns = _real_starts(mask)[:, None] + torch.arange(comparable, device=tokens.device)
    aligned = tokens.gather(1, columns)  # each row's first `comparable` real tokens
    same = (aligned == aligned[:1]).all(0)
    return int(same.long().cumprod(0).sum())


def _sharable_prefix(model, tokens, mask) -> int:
    """The shared prefix's length when sharing pays and is allowed, else 0."""
    keep = _tokens_to_keep(model)
    if tokens.shape[0] < 2 or keep is None:
        return 0
    n_prefix = shared_prefix_length(tokens, mask, keep=keep)
    return n_prefix if n_prefix >= MIN_SHARED_PREFIX else 0


def _remainder(tokens, mask, n_prefix: int):
    """Each row without its shared prefix, still left-padded: (tokens, mask, source columns)."""
    width = tokens.shape[1] - n_prefix
    cols = torch.arange(width, device=tokens.device)[None].expand(tokens.shape[0], -1)
    source = torch.where(cols < _real_starts(mask)[:, None], cols, cols + n_prefix)
    return tokens.gather(1, source), mask.gather(1, source), source


def _two_passes(model, tokens, mask, n_prefix: int, forward):
    """`forward(tokens, mask, cache)` on the shared prefix at batch 1, then, with the prefix's
    KV cache expanded to the batch, on each row's rest. Returns both outputs, the cache (now
    holding prefix and rest) and the rest's source columns in `tokens`."""
    start = int(_real_starts(mask[:1]))
    prefix = tokens[:1, start : start + n_prefix]
    cache = _KVCache.init_cache(model.cfg, tokens.device, 1)
    _ON_PREFIX_PASS[0] = True
    try:
        prefix_out = forward(prefix, torch.ones_like(prefix), cache)
    finally:
        _ON_PREFIX_PASS[0] = False
    batch = tokens.shape[0]
    for entry in cache.entries:
        entry.past_keys = entry.past_keys.expand(batch, -1, -1, -1)
        entry.past_values = entry.past_values.expand(batch, -1, -1, -1)
    cache.previous_attention_mask = cache.previous_attention_mask.expand(batch, -1)
    rest, rest_mask, source = _remainder(tokens, mask, n_prefix)
    return prefix_out, forward(rest, rest_mask, cache), cache, source


def _assemble(
    prefix_part: Float[Tensor, "1 n_prefix ..."],
    rest_part: Float[Tensor, "batch rest ..."],
    mask: Int[Tensor, "batch pos"],
    source: Int[Tensor, "batch rest"],
) -> Float[Tensor, "batch pos ..."]:
    """The ordinary left-padded layout `[pads][prefix][rest]` from the two passes' outputs."""
    batch, pos, n_prefix = mask.shape[0], mask.shape[1], prefix_part.shape[1]
    rest = rest_part.reshape(batch, rest_part.shape[1], -1)
    out = rest.new_zeros(batch, pos, rest.shape[-1])
    out.scatter_(1, source[..., None].expand_as(rest), rest)
    columns = _real_starts(mask)[:, None] + torch.arange(n_prefix, device=mask.device)
    prefix = prefix_part.reshape(1, n_prefix, -1).expand(batch, -1, -1)
    out.scatter_(1, columns[..., None].expand_as(prefix), prefix)
    return out.reshape(batch, pos, *rest_part.shape[2:])


def _blocks_below(model, stop_at_layer: int) -> Callable:
    """`forward(tokens, mask, kv_cache)`: the residual stream after block `stop_at_layer - 1`,
    with a KV cache to read and extend (None: the plain forward)."""

    def forward(t, m, kv_cache):
        return model(t, attention_mask=m, past_kv_cache=kv_cache, stop_at_layer=stop_at_layer)

    return forward


def lower_blocks(
    model, tokens: Int[Tensor, "batch pos"], mask: Int[Tensor, "batch pos"], *, stop_at_layer: int
) -> Float[Tensor, "batch pos d_model"]:
    """The residual stream after block `stop_at_layer - 1`, as `model(tokens,
    attention_mask=mask, stop_at_layer=...)` gives it, running a shared prefix once."""
    forward = _blocks_below(model, stop_at_layer)
    n_prefix = _sharable_prefix(model, tokens, mask)
    if not n_prefix:
        return forward(tokens, mask, None)
    prefix_out, rest_out, _, source = _two_passes(model, tokens, mask, n_prefix, forward)
    return _assemble(prefix_out, rest_out, mask, source)


def run_with_cache(
    model,
    tokens: Int[Tensor, "batch pos"],
    mask: Int[Tensor, "batch pos"],
    names: Sequence[str],
    *,
    stop_at_layer: int | None,
) -> dict[str, Float[Tensor, "batch ..."]]:
    """The activations at `names`, as `model.run_with_cache` gives them, running a shared
    prefix once when every name is a residual-stream site (`hooks.SITES`)."""
    n_prefix = _sharable_prefix(model, tokens, mask)
    if not n_prefix or not all(n.endswith(_SHAREABLE_SITES) for n in names):
        _, cache = model.run_with_cache(
            tokens, attention_mask=mask, names_filter=list(names), stop_at_layer=stop_at_layer
        )
        return {n: cache[n] for n in names}

    def forward(t, m, kv_cache):
        _, acts = model.run_with_cache(
            t,
            attention_mask=m,
            past_kv_cache=kv_cache,
            names_filter=list(names),
            stop_at_layer=stop_at_layer,
        )
        return acts

    prefix_acts, rest_acts, _, source = _two_passes(model, tokens, mask, n_prefix, forward)
    return {n: _assemble(prefix_acts[n], rest_acts[n], mask, source) for n in names}


def prefill(
    model, tokens: Int[Tensor, "batch pos"], mask: Int[Tensor, "batch pos"]
) -> tuple[Float[Tensor, "batch rest d_model"], _KVCache]:
    """The first forward of generation: the final residual stream of each row's last columns
    (the last column is every row's last token) and a KV cache holding the whole prompt."""
    forward = _blocks_below(model, model.cfg.n_layers)
    n_prefix = _sharable_prefix(model, tokens, mask)
    if not n_prefix:
        cache = _KVCache.init_cache(model.cfg, tokens.device, tokens.shape[0])
        return forward(tokens, mask, cache), cache
    _, rest_out, cache, _ = _two_passes(model, tokens, mask, n_prefix, forward)
    return rest_out, cache


def stored_lower_blocks(
    model,
    tokens: Int[Tensor, "batch pos"],
    mask: Int[Tensor, "batch pos"],
    *,
    stop_at_layer: int,
    model_id: dict | None = None,
) -> Float[Tensor, "batch pos d_model"]:
    """`shared_prefix.lower_blocks`, read from the store when a figure computed it before and
    written there otherwise. `model_id` (`activation_store.model_identity(model)`) may be
    passed by callers that ask for many batches of one model."""
    root = store_root()
    if root is None:
        return lower_blocks(model, tokens, mask, stop_at_layer=stop_at_layer)
    identity = residual_identity(model_id or model_identity(model), tokens, mask, stop_at_layer - 1)
    stored = read_residual(root, identity)
    if stored is not None:
        return stored.to(tokens.device)
    residual = lower_blocks(model, tokens, mask, stop_at_layer=stop_at_layer)
    write_residual(root, identity, residual)
    return residual
