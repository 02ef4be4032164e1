"""Batched greedy generation with the KV cache and left padding.

One prompt batch goes through the model once; every later step feeds only the newest token,
so a hook at position -1 sees the last prompt token on the first call and each generated
token afterwards (the NeurIPS steering semantics, docs/method.md, "Steering positions"). Rows stop at end-of-turn; the
paper's code did not, and counted refusal tokens in hallucinated later turns (docs/method.md, "Differences from the original code").

Comparing methods asks for the first answer token of the same prompts under many plans whose
hooks all sit at one residual hook (`blocks.L.hook_resid_post`). Inside `reused_prefix(model)`
the blocks up to L run once per batch and are reused: each plan's hooks are applied to the
cached residual and only the blocks after L run (on SmolLM2 with L = 28 of 30, ~15x less
work per plan). When a plan's hooks touch only the last few columns (`BatchPlan.tail`: a
steering push), the blocks after L run the other columns once per batch into a KV cache, and
each plan runs only its tail (a layer sweep: one column per push instead of ~50). A plan
without hooks (unsteered, a logit bias) reuses the last block's residual. Outside it, or when
anything else is hooked on the model, nothing is reused. The memo's blocks, and the prompt
pass of generation, run a prefix that every prompt shares (a chat template's header) once per
batch (`shared_prefix`). With an activation store set, residuals computed from the embedding
up are also kept on disk, so later figures skip those blocks (`residual_store`).
Every forward here unembeds the last position only.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from transformer_lens import TransformerLensKeyValueCache as _KVCache
from transformer_lens.utilities import apply_softcap

from mechrefusal import distributed
from mechrefusal._progress import tqdm
from mechrefusal._typing import Float, Int, Tensor
from mechrefusal.data.chat import PromptFormat, stop_token_ids, tokenize_prompts
from mechrefusal.engine.hooks import has_active_hooks, layer_of
from mechrefusal.engine.live_rows import running_rows
from mechrefusal.engine.shared_prefix import prefill, stored_lower_blocks, tail_hooks
from mechrefusal.store.activation_store import model_identity
from mechrefusal.store.residual_store import batch_key


@dataclass(frozen=True)
class Generation:
    """Greedy continuations of a batch of prompts."""

    new_tokens: list[list[int]]
    """Generated ids per prompt, up to (not including) the stop token."""
    first_logits: Float[Tensor, "batch d_vocab"]
    """Logits of the first answer token (scored for refusal)."""


def model_device(model) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def greedy_generate(
    model,
    tokens: Int[Tensor, "batch pos"],
    attention_mask: Int[Tensor, "batch pos"],
    *,
    max_new_tokens: int,
    stop_ids: set[int],
    first_logit_bias: Float[Tensor, " d_vocab"] | None = None,
    drop_finished: bool = False,
) -> Generation:
    """Greedy decoding of a left-padded batch; hooks active on `model` apply at every step.

    `first_logit_bias` is added to the first answer token's logits only (the refusal-token
    logit-bias baseline of the refusal-tokens paper). With `drop_finished`, a row that has
    stopped leaves the batch (and the KV cache): only allowed when every active hook reads its
    per-prompt tensors through `live_rows.live_rows` (or has none).
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}.")
    device = model_device(model)
    tokens, attention_mask = tokens.to(device), attention_mask.to(device)
    batch = tokens.shape[0]
    residual, cache = prefill(model, tokens, attention_mask)
    logits = last_logits_from(model, residual, model.cfg.n_layers, attention_mask)
    first_logits, next_ids, done = _first_step(logits, first_logit_bias, stop_ids)
    out = [[] if stopped else [int(t)] for t, stopped in zip(next_ids, done, strict=True)]
    stops = torch.tensor(sorted(stop_ids), dtype=torch.long)
    live = torch.arange(batch)  # the rows in the cache, in batch order
    for _ in range(max_new_tokens - 1):
        if done.all():
            break
        if drop_finished and done[live].any():
            keep = ~done[live]
            _keep_cache_rows(cache, keep.nonzero().flatten().to(device))
            live = live[keep]
        step_mask = torch.ones((len(live), 1), dtype=attention_mask.dtype, device=device)
        with running_rows(live if len(live) < batch else None):
            logits = _next_logits(model, next_ids[live][:, None].to(device), step_mask, cache)
        step_ids = logits.argmax(dim=-1).cpu()
        next_ids[live] = step_ids
        done[live] |= torch.isin(step_ids, stops)
        for row in live[~done[live]].tolist():
            out[row].append(int(next_ids[row]))
    return Generation(new_tokens=out, first_logits=first_logits)


def _keep_cache_rows(cache: _KVCache, rows: Int[Tensor, " kept"]) -> None:
    """Cut a KV cache (keys, values, attention mask) to `rows` of its batch, in place."""
    for entry in cache.entries:
        entry.past_keys = entry.past_keys[rows]
        entry.past_values = entry.past_values[rows]
    cache.previous_attention_mask = cache.previous_attention_mask[rows]


def _next_logits(model, tokens, mask, cache) -> Float[Tensor, "batch d_vocab"]:
    """One cached forward; only the last position is unembedded (`last_logits_from`)."""
    n = model.cfg.n_layers
    residual = model(tokens, attention_mask=mask, past_kv_cache=cache, stop_at_layer=n)
    return last_logits_from(model, residual, n, mask)


def _first_step(
    logits: Float[Tensor, "batch d_vocab"], bias: Tensor | None, stop_ids: set[int]
) -> tuple[Float[Tensor, "batch d_vocab"], Int[Tensor, " batch"], torch.Tensor]:
    """The first answer token: biased logits (kept, on CPU), greedy ids, rows that stopped."""
    if bias is not None:
        logits = logits + bias.to(logits.device, logits.dtype)
    next_ids = logits.argmax(dim=-1).cpu()
    done = torch.isin(next_ids, torch.tensor(sorted(stop_ids), dtype=torch.long))
    return logits.float().cpu(), next_ids, done


@dataclass
class BatchPlan:
    """How one batch is answered: hooks active for its whole generation, a first-step logit bias,
    and whatever the method recorded about its decisions (e.g. routing)."""

    hooks: list = field(default_factory=list)
    first_logit_bias: Float[Tensor, " d_vocab"] | None = None
    record: object = None
    tail: int | None = None
    """When the hooks touch only the last `tail` columns of every forward (indices counted from
    the end): a prefix every prompt shares then runs once without them (`shared_prefix.tail_hooks`).
    None: nothing is known about the hooks, and nothing is shared while they are attached."""
    live_rows_aware: bool = False
    """The hooks read any per-prompt tensor through `live_rows.live_rows`, so rows that have
    stopped may leave the decoding batch (a plan without hooks needs nothing)."""

    def attached(self, model):
        """A context attaching the plan's hooks to `model` for one batch."""
        if self.tail is None:
            return model.hooks(fwd_hooks=self.hooks)
        return tail_hooks(model, self.hooks, tail=self.tail)


PlanFn = Callable[[list, Tensor, Tensor], BatchPlan]
"""(the batch's items, tokens, attention mask) -> BatchPlan; called once per batch, so any
state a method keeps (call counters, routing decisions) is fresh for every batch."""


def generate_planned(
    model,
    items: Sequence,
    texts: Sequence[str],
    plan: PlanFn | None = None,
    *,
    max_new_tokens: int = 12,
    batch_size: int = 32,
    fmt: PromptFormat = "chat",
    progress: bool = True,
    desc: str = "generate",
) -> tuple[Generation, list[BatchPlan]]:
    """Greedy answers for `texts`, batched, each batch under its own plan (see `PlanFn`).

    Under torchrun each rank answers its block of batches; answers, first logits and the plans'
    records are gathered in prompt order on every rank (`distributed`).
    """
    if len(items) != len(texts):
        raise ValueError(f"{len(items)} items but {len(texts)} texts.")
    if not texts:
        raise ValueError("Empty prompt set: nothing to generate.")
    tokenizer = model.tokenizer
    stop_ids = stop_token_ids(tokenizer)
    parts: list[Generation] = []
    plans: list[BatchPlan] = []
    rows = distributed.my_batch_rows(len(texts), batch_size)
    quiet = not progress or len(rows) < 2 or not distributed.is_main()
    for batch in tqdm(rows, desc=desc, disable=quiet, leave=False):
        tokens, mask = tokenize_prompts(
            tokenizer,
            list(texts[batch.start : batch.stop]),
            n_ctx=model.cfg.n_ctx - max_new_tokens,
            fmt=fmt,
        )
        batch_plan = (
            plan(list(items[batch.start : batch.stop]), tokens, mask) if plan else BatchPlan()
        )
        layer = _memo_layer(model, batch_plan.hooks) if max_new_tokens == 1 else None
        if layer is not None:
            parts.append(_first_token_from_prefix(model, tokens, mask, batch_plan, layer, stop_ids))
        else:
            # Hooks a caller attached outside the plan may keep per-prompt state: rows stay.
            droppable = (batch_plan.live_rows_aware or not batch_plan.hooks) and not (
                has_active_hooks(model)
            )
            with batch_plan.attached(model):
                parts.append(
                    greedy_generate(
                        model,
                        tokens,
                        mask,
                        max_new_tokens=max_new_tokens,
                        stop_ids=stop_ids,
                        first_logit_bias=batch_plan.first_logit_bias,
                        drop_finished=droppable,
                    )
                )
        plans.append(batch_plan)
    return _gather_generation(parts, plans)


_PREFIXES: dict[int, dict[str, dict[int, Tensor]]] = {}
"""id(model) -> {batch key: {layer L: residual after block L}}, while `reused_prefix` is open."""
_MODEL_IDS: dict[int, dict] = {}
"""id(model) -> `model_identity(model)`, for the on-disk residuals (`residual_store`)."""
_UPPER_KV: dict[int, dict[tuple[str, int], tuple[int, _KVCache]]] = {}
"""id(model) -> {(batch key, tail): (first block S, the unsteered keys and values of blocks
S.. over every column but the last `tail`)}, while `reused_prefix` is open."""
_WALKING: set[int] = set()
"""id(model) of memos opened with `walk_up`: residuals resumed from the memoised layer below."""


@contextmanager
def reused_prefix(model, *, walk_up: bool = False) -> Iterator[None]:
    """Reuse the blocks below a steering hook across first-token forwards of the same batches.

    Every memoised residual is the same tensor whichever plan asked for it first: it is
    computed from the embedding up (or read from the activation store), never resumed from a
    memoised lower layer, whose float rounding differs; so a setting tuned inside the memo
    answers the same when it is measured later in it. `walk_up=True` (the layer sweep, which
    visits every layer once) resumes each layer from the one below instead, in a memo of its
    own that nothing else reads. Only for a fixed model: weights must not change inside the
    block (nothing checks).
    """
    key = id(model)
    outer = (_PREFIXES.pop(key), _UPPER_KV.pop(key)) if walk_up and key in _PREFIXES else None
    opened = key not in _PREFIXES
    if opened:
        _PREFIXES[key], _UPPER_KV[key] = {}, {}
        if walk_up:
            _WALKING.add(key)
    try:
        yield
    finally:
        if opened:
            del _PREFIXES[key], _UPPER_KV[key]
            _MODEL_IDS.pop(key, None)
            _WALKING.discard(key)
        if outer is not None:
            _PREFIXES[key], _UPPER_KV[key] = outer


def _memo_layer(model, hooks: list) -> int | None:
    """The layer L whose memoised residual (after block L) a one-token plan resumes from: the
    common L of hooks that all sit at `blocks.L.hook_resid_post`, or the last block for a plan
    without hooks (its logits then cost one unembedding). None, the ordinary forward: no memo
    open, other hooks, or a hook attached to the model itself (an outer intervention, e.g. an
    ablation, would be missing from the memo)."""
    if id(model) not in _PREFIXES or has_active_hooks(model):
        return None
    if not hooks:
        return model.cfg.n_layers - 1
    layers = {layer_of(name) if name.endswith(".hook_resid_post") else None for name, _ in hooks}
    return layers.pop() if len(layers) == 1 and None not in layers else None


_MEMO_LAYERS = 3
"""Residuals kept per batch (least recently used dropped): a comparison uses the steering layer,
a harm reader's layer and the last block."""


def _memo_residual(model, tokens, mask, layer: int) -> Float[Tensor, "batch pos d_model"]:
    """The residual after block `layer` for this batch, computed once per open memo: from the
    embedding up (or the store), so it does not depend on which layers were asked for before;
    in a `walk_up` memo, from the highest memoised layer below it when there is one."""
    entry = _PREFIXES[id(model)].setdefault(batch_key(tokens, mask), {})
    if layer in entry:
        entry[layer] = entry.pop(layer)  # most recently used last
        return entry[layer]
    below = [held for held in entry if held < layer] if id(model) in _WALKING else []
    if below:
        start = max(below)
        entry[start] = entry.pop(start)
        entry[layer] = model(
            entry[start], start_at_layer=start + 1, stop_at_layer=layer + 1, attention_mask=mask
        )
    else:
        if id(model) not in _MODEL_IDS:  # reads a sample of every weight: once per memo
            _MODEL_IDS[id(model)] = model_identity(model)
        entry[layer] = stored_lower_blocks(
            model, tokens, mask, stop_at_layer=layer + 1, model_id=_MODEL_IDS[id(model)]
        )
    while len(entry) > _MEMO_LAYERS:
        del entry[next(iter(entry))]
    return entry[layer]


def last_logits_from(
    model, residual: Float[Tensor, "batch pos d_model"], start: int, mask
) -> Float[Tensor, "batch d_vocab"]:
    """Next-token logits at the last position, running blocks `start`.. on a residual stream.

    Only the last position is normed and unembedded (the unembedding is the costliest matrix of
    a small model with a large vocabulary)."""
    n = model.cfg.n_layers
    if start < n:
        residual = model(residual, start_at_layer=start, stop_at_layer=n, attention_mask=mask)
    last = residual[:, -1:]
    if model.cfg.normalization_type is not None:
        last = model.ln_final(last)
    logits = apply_softcap(model.unembed(last), model.cfg.output_logits_soft_cap)
    return logits[:, -1]


@torch.inference_mode()
def _first_token_from_prefix(
    model, tokens, mask, plan: BatchPlan, layer: int, stop_ids: set[int]
) -> Generation:
    """One-token greedy answer: memoised residual after block `layer` -> plan hooks -> the rest."""
    device = model_device(model)
    tokens, mask = tokens.to(device), mask.to(device)
    residual = _memo_residual(model, tokens, mask, layer)
    if plan.hooks:
        residual = residual.clone()
        for name, fn in plan.hooks:
            out = fn(residual, hook=model.hook_dict[name])
            residual = residual if out is None else out
    if plan.hooks and plan.tail is not None and plan.tail < tokens.shape[1]:
        logits = _last_logits_over_tail(model, tokens, mask, residual, layer, plan.tail)
    else:
        logits = last_logits_from(model, residual, layer + 1, mask)
    first_logits, next_ids, done = _first_step(logits, plan.first_logit_bias, stop_ids)
    new_tokens = [[] if d else [int(t)] for t, d in zip(next_ids, done, strict=True)]
    return Generation(new_tokens=new_tokens, first_logits=first_logits)


def _last_logits_over_tail(
    model, tokens, mask, residual: Float[Tensor, "batch pos d_model"], layer: int, tail: int
) -> Float[Tensor, "batch d_vocab"]:
    """`last_logits_from(model, residual, layer + 1, mask)` for a residual that the plan's hooks
    changed in its last `tail` columns only: the columns before are the unsteered ones, so the
    blocks after `layer` run on those once per batch into a KV cache (`_upper_kv`), and each
    plan runs only its `tail` columns against it (a steering push: 1 of ~50 columns)."""
    n = model.cfg.n_layers
    if layer + 1 >= n:
        return last_logits_from(model, residual, n, mask)
    cache = _upper_kv(model, tokens, mask, layer, tail)
    out = model(
        residual[:, -tail:],
        start_at_layer=layer + 1,
        stop_at_layer=n,
        attention_mask=mask,
        past_kv_cache=cache,
    )
    return last_logits_from(model, out, n, mask)


def _upper_kv(model, tokens, mask, layer: int, tail: int) -> _KVCache:
    """Frozen unsteered keys and values of blocks `layer + 1`.. over the columns before the last
    `tail`, computed once per batch, tail and layer (the latest kept). In a `walk_up` memo a
    cache that starts lower serves every layer above (the layer sweep builds it once); in any
    other its keys come from this layer's own residual, so they do not depend on the order
    the layers were visited in."""
    held, key = _UPPER_KV[id(model)], (batch_key(tokens, mask), tail)
    if key in held:
        start = held[key][0]
        if start == layer + 1 or (start < layer + 1 and id(model) in _WALKING):
            return held[key][1]
    residual = _memo_residual(model, tokens, mask, layer)
    cache = _KVCache.init_cache(model.cfg, residual.device, residual.shape[0])
    model(
        residual[:, :-tail],
        start_at_layer=layer + 1,
        stop_at_layer=model.cfg.n_layers,
        attention_mask=mask[:, :-tail],
        past_kv_cache=cache,
    )
    cache.freeze()
    held[key] = (layer + 1, cache)
    return cache


@torch.inference_mode()
def unsteered_first_logits(model, tokens, mask, *, layer: int) -> Float[Tensor, "batch d_vocab"]:
    """First-answer-token logits with no plan (e.g. a routing policy reading the model's own
    choice). Inside `reused_prefix` the residual after block `layer` (where the steering hook
    will read it) is memoised first and the unsteered forward resumes from it."""
    if _memo_layer(model, []) is None:
        return greedy_generate(model, tokens, mask, max_new_tokens=1, stop_ids=set()).first_logits
    device = model_device(model)
    _memo_residual(model, tokens.to(device), mask.to(device), layer)
    return _first_token_from_prefix(
        model, tokens, mask, BatchPlan(), model.cfg.n_layers - 1, set()
    ).first_logits


@torch.inference_mode()
def unsteered_residual(model, tokens, mask, *, layer: int) -> Float[Tensor, "batch pos d_model"]:
    """The residual stream after block `layer` for a batch, before any plan's hooks attach (a
    router reading another layer than the one it steers). Inside `reused_prefix` it is the
    memoised one (the steering layer's then resumes from it); otherwise it comes from the
    activation store when one is set. A hook attached to the model itself (an outer
    intervention) acts on it, and nothing is memoised or stored then."""
    device = model_device(model)
    tokens, mask = tokens.to(device), mask.to(device)
    if has_active_hooks(model):
        return model(tokens, attention_mask=mask, stop_at_layer=layer + 1)
    if id(model) in _PREFIXES:
        return _memo_residual(model, tokens, mask, layer)
    return stored_lower_blocks(model, tokens, mask, stop_at_layer=layer + 1)


def _gather_generation(
    parts: list[Generation], plans: list[BatchPlan]
) -> tuple[Generation, list[BatchPlan]]:
    """This rank's batches -> every rank's, in prompt order. Plans of other ranks' batches keep
    only their record (hooks are closures of the rank that ran them)."""
    first_logits = torch.cat([g.first_logits for g in parts]) if parts else None
    gen = Generation(
        new_tokens=distributed.all_gather_objects([row for g in parts for row in g.new_tokens]),
        first_logits=distributed.all_gather_rows(first_logits),
    )
    if distributed.world().size > 1:
        records = distributed.all_gather_objects([p.record for p in plans])
        plans = [BatchPlan(record=record) for record in records]
    return gen, plans


def generate_answers(
    model,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 12,
    batch_size: int = 32,
    fmt: PromptFormat = "chat",
    progress: bool = True,
    desc: str = "generate",
    first_logit_bias: Float[Tensor, " d_vocab"] | None = None,
) -> Generation:
    """Greedy answers for user prompts, batched; hooks on `model` stay active throughout."""
    plan = (
        None
        if first_logit_bias is None
        else (lambda *_: BatchPlan(first_logit_bias=first_logit_bias))
    )
    gen, _ = generate_planned(
        model,
        prompts,
        prompts,
        plan,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        fmt=fmt,
        progress=progress,
        desc=desc,
    )
    return gen
