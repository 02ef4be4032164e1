"""Batched greedy generation with the KV cache and left padding.

One prompt batch goes through the model once; every later step feeds only the newest token,
so a hook at position -1 sees the last prompt token on the first call and each generated
token afterwards (the NeurIPS steering semantics, PAPER §4.2). Rows stop at end-of-turn; the
paper's code did not, and counted refusal tokens in hallucinated later turns (PAPER §10.3).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm
from transformer_lens import TransformerLensKeyValueCache as _KVCache

from mechrefusal import distributed
from mechrefusal._typing import Float, Int, Tensor
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
