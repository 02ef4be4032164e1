"""Batched greedy generation with the KV cache and left padding.

One prompt batch goes through the model once; every later step feeds only the newest token,
so a hook at position -1 sees the last prompt token on the first call and each generated
token afterwards (the NeurIPS steering semantics, PAPER §4.2). Rows stop at end-of-turn; the
paper's code did not, and counted refusal tokens in hallucinated later turns (PAPER §10.3).

Comparing methods asks for the first answer token of the same prompts under many plans whose
hooks all sit at one residual hook (`blocks.L.hook_resid_post`). Inside `reused_prefix(model)`
the blocks up to L run once per batch and are reused: each plan's hooks are applied to the
cached residual and only the blocks after L run (on SmolLM2 with L = 28 of 30, ~15x less
work per plan). Outside it, or when anything else is hooked on the model, nothing is reused.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm
from transformer_lens import TransformerLensKeyValueCache as _KVCache

from mechrefusal import distributed
from mechrefusal._typing import Float, Int, Tensor
from mechrefusal.artifacts import text_hash
from mechrefusal.chat import PromptFormat, stop_token_ids, tokenize_prompts


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
) -> Generation:
    """Greedy decoding of a left-padded batch; hooks active on `model` apply at every step.

    `first_logit_bias` is added to the first answer token's logits only (the refusal-token
    logit-bias baseline of the refusal-tokens paper).
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}.")
    device = model_device(model)
    tokens, attention_mask = tokens.to(device), attention_mask.to(device)
    batch = tokens.shape[0]
    cache = _KVCache.init_cache(model.cfg, device, batch)
    logits = model(tokens, attention_mask=attention_mask, past_kv_cache=cache)[:, -1]
    if first_logit_bias is not None:
        logits = logits + first_logit_bias.to(logits.device, logits.dtype)
    first_logits = logits.float().cpu()
    out: list[list[int]] = [[] for _ in range(batch)]
    done = torch.zeros(batch, dtype=torch.bool)
    stops = torch.tensor(sorted(stop_ids), dtype=torch.long)
    for step in range(max_new_tokens):
        next_ids = logits.argmax(dim=-1).cpu()
        done |= torch.isin(next_ids, stops)
        for row in (~done).nonzero().flatten().tolist():
            out[row].append(int(next_ids[row]))
        if done.all() or step == max_new_tokens - 1:
            break
        step_mask = torch.ones((batch, 1), dtype=attention_mask.dtype, device=device)
        logits = model(next_ids[:, None].to(device), attention_mask=step_mask, past_kv_cache=cache)[
            :, -1
        ]
    return Generation(new_tokens=out, first_logits=first_logits)


@dataclass
class BatchPlan:
    """How one batch is answered: hooks active for its whole generation, a first-step logit bias,
    and whatever the method recorded about its decisions (e.g. routing)."""

    hooks: list = field(default_factory=list)
    first_logit_bias: Float[Tensor, " d_vocab"] | None = None
    record: object = None


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
        layer = _prefix_layer(model, batch_plan.hooks) if max_new_tokens == 1 else None
        if layer is not None:
            parts.append(_first_token_from_prefix(model, tokens, mask, batch_plan, layer, stop_ids))
        else:
            with model.hooks(fwd_hooks=batch_plan.hooks):
                parts.append(
                    greedy_generate(
                        model,
                        tokens,
                        mask,
                        max_new_tokens=max_new_tokens,
                        stop_ids=stop_ids,
                        first_logit_bias=batch_plan.first_logit_bias,
                    )
                )
        plans.append(batch_plan)
    return _gather_generation(parts, plans)


_PREFIXES: dict[int, dict] = {}
"""id(model) -> {(layer, batch key): residual after block `layer`}, while `reused_prefix` is open."""


@contextmanager
def reused_prefix(model) -> Iterator[None]:
    """Reuse the blocks below a steering hook across first-token forwards of the same batches.

    Only for a fixed model: weights must not change inside the block (nothing checks).
    """
    opened = id(model) not in _PREFIXES
    if opened:
        _PREFIXES[id(model)] = {}
    try:
        yield
    finally:
        if opened:
            del _PREFIXES[id(model)]


def _prefix_layer(model, hooks: list) -> int | None:
    """The layer L when every plan hook is `blocks.L.hook_resid_post` for one L, a prefix memo
    is open for this model and no other hook is attached; else None (the ordinary path)."""
    if id(model) not in _PREFIXES or not hooks:
        return None
    if any(point.fwd_hooks for point in model.hook_dict.values()):
        return None  # an outer intervention (e.g. an ablation) would be missing from the prefix
    layers = set()
    for name, _ in hooks:
        parts = name.split(".")
        if len(parts) != 3 or parts[0] != "blocks" or parts[2] != "hook_resid_post":
            return None
        layers.add(int(parts[1]))
    return layers.pop() if len(layers) == 1 else None


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
    if model.cfg.output_logits_soft_cap > 0:
        raise NotImplementedError("Soft-capped logits: use the ordinary forward.")
    return model.unembed(last)[:, -1]


@torch.inference_mode()
def _first_token_from_prefix(
    model, tokens, mask, plan: BatchPlan, layer: int, stop_ids: set[int]
) -> Generation:
    """One-token greedy answer: cached residual after block `layer` -> plan hooks -> the rest."""
    device = model_device(model)
    tokens, mask = tokens.to(device), mask.to(device)
    memo = _PREFIXES[id(model)]
    key = (layer, text_hash([str(tokens.tolist()), str(mask.tolist())]))
    if key not in memo:
        memo[key] = model(tokens, attention_mask=mask, stop_at_layer=layer + 1)
    residual = memo[key].clone()
    for name, fn in plan.hooks:
        out = fn(residual, hook=model.hook_dict[name])
        residual = residual if out is None else out
    logits = last_logits_from(model, residual, layer + 1, mask)
    if plan.first_logit_bias is not None:
        logits = logits + plan.first_logit_bias.to(logits.device, logits.dtype)
    next_ids = logits.argmax(dim=-1).cpu()
    stops = torch.tensor(sorted(stop_ids), dtype=torch.long)
    done = torch.isin(next_ids, stops)
    new_tokens = [[] if d else [int(t)] for t, d in zip(next_ids, done, strict=True)]
    return Generation(new_tokens=new_tokens, first_logits=logits.float().cpu())


def unsteered_first_logits(model, tokens, mask, *, layer: int) -> Float[Tensor, "batch d_vocab"]:
    """First-answer-token logits with no plan (e.g. a routing policy reading the model's own
    choice), from the prefix memo at `layer` when one is open (see `reused_prefix`)."""
    if _prefix_layer(model, [(f"blocks.{layer}.hook_resid_post", None)]) is not None:
        return _first_token_from_prefix(model, tokens, mask, BatchPlan(), layer, set()).first_logits
    return greedy_generate(model, tokens, mask, max_new_tokens=1, stop_ids=set()).first_logits


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
