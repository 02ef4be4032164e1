"""Cache one or a few hooks' activations at semantic positions (docs/method.md, "Activations").

Only the named hooks are cached (`names_filter`) and the forward pass stops after the last
needed block (`stop_at_layer`); a prefix every prompt of a batch shares (a chat template's
header) runs once per batch (`shared_prefix.run_with_cache`). Batches are left-padded with an attention mask, so the last
column is each prompt's last real token and padding never changes a result (the NeurIPS code
read index -1 of right-padded batches: docs/method.md, "Differences from the original code"). Positions:
- `last`: the last input token (the position that emits the refusal token; with `append`, the
  appended category / `[respond]` token, the paper's variant);
- `prompt_end`: the last token of the user's text, before the chat template's suffix (and any
  appended token), located from the template itself;
- `mean`: the mean over all real tokens.
"""

import itertools
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import torch
from einops import einsum

from mechrefusal import distributed
from mechrefusal._progress import tqdm
from mechrefusal._typing import Float, Int, Tensor
from mechrefusal.data.chat import PromptFormat, length_order, suffix_length, tokenize_prompts
from mechrefusal.engine.generation import model_device
from mechrefusal.engine.hooks import has_active_hooks, stop_layer_for, validate_hook
from mechrefusal.engine.shared_prefix import run_with_cache
from mechrefusal.store.activation_store import ActivationRequest, ActivationStore, default_store

Position = Literal["last", "prompt_end", "mean"]
POSITIONS: tuple[Position, ...] = ("last", "prompt_end", "mean")


def prompt_end_index(tokens: Int[Tensor, "batch pos"], n_suffix: int) -> Int[Tensor, " batch"]:
    """Index of the last user-text token of left-padded rows whose last `n_suffix` tokens are
    the chat template's suffix (`chat.suffix_length`; 0 for raw prompts)."""
    if not 0 <= n_suffix < tokens.shape[1]:
        raise ValueError(
            f"A template suffix of {n_suffix} tokens does not fit rows of {tokens.shape[1]}."
        )
    return torch.full((tokens.shape[0],), tokens.shape[1] - 1 - n_suffix, dtype=torch.long)


def select_position(
    acts: Float[Tensor, "batch pos d_model"],
    attention_mask: Int[Tensor, "batch pos"],
    tokens: Int[Tensor, "batch pos"],
    *,
    position: Position,
    n_suffix: int,
) -> Float[Tensor, "batch d_model"]:
    """Reduce a [batch, pos, d_model] activation to one vector per prompt."""
    if position == "last":
        return acts[:, -1]
    if position == "prompt_end":
        index = prompt_end_index(tokens.cpu(), n_suffix).to(acts.device)
        return acts[torch.arange(acts.shape[0], device=acts.device), index]
    if position == "mean":
        mask = attention_mask.to(acts.dtype).to(acts.device)
        return einsum(acts, mask, "batch pos d_model, batch pos -> batch d_model") / mask.sum(
            1, keepdim=True
        )
    raise ValueError(f"Unknown position {position!r}; valid: {', '.join(POSITIONS)}.")


@torch.inference_mode()
def cache_activations(
    model,
    prompts: Sequence[str],
    hooks: Sequence[str],
    *,
    position: Position = "last",
    fmt: PromptFormat = "chat",
    append: str | None = None,
    batch_size: int = 32,
    progress: bool = True,
    store: ActivationStore | None | Literal["default"] = "default",
) -> dict[str, Float[Tensor, "n_prompts d_model"]]:
    """Activations of each hook at one position per prompt, as float32 on the CPU.

    Under torchrun each rank computes its block of batches and the rows are gathered in prompt
    order (`distributed`). With an activation store (`store`, default: the one set by
    `activation_store.set_default`, e.g. by the experiment scripts) activations are read from
    disk when this model, prompt set, hook and position were cached before, else computed and
    written there; a model with hooks attached is never served from the store.

    Raises:
        ValueError: unknown hook (with close names), empty prompt set, over-long prompt, or
            non-finite activations (fp16 overflow must not pass silently: docs/method.md, "Differences from the original code").
    """
    if not prompts:
        raise ValueError("Empty prompt set: nothing to cache.")
    if position not in POSITIONS:
        raise ValueError(f"Unknown position {position!r}; valid: {', '.join(POSITIONS)}.")
    names = [validate_hook(model, h) for h in hooks]
    store = default_store() if store == "default" else store
    spec = ActivationRequest(
        prompts=list(prompts),
        position=position,
        fmt=fmt,
        append=append,
        batch_size=batch_size,
        progress=progress,
    )
    if store is not None and not has_active_hooks(model):

        def compute(missing: list[str]) -> dict[str, Tensor | None]:
            # One forward gives every position: the others are stored too (a router reads
            # `last` and `prompt_end` of the same prompts).
            by_position = _shard_at_positions(model, spec, missing, POSITIONS)
            for other in POSITIONS:
                if other != spec.position:
                    store.put(model, replace(spec, position=other), by_position[other])
            return by_position[spec.position]

        result = store.fetch(model, spec, names, compute)
    else:
        local = activation_shard(model, spec, names)
        result = {n: distributed.all_gather_rows(local[n]) for n in names}
    for n, acts in result.items():
        if not torch.isfinite(acts).all():
            raise ValueError(
                f"Non-finite activations at {n}: try a wider dtype (float32/bfloat16)."
            )
    return result


def activation_shard(
    model, spec: ActivationRequest, names: Sequence[str]
) -> dict[str, Float[Tensor, "rows d_model"] | None]:
    """This rank's rows (its block of batches, `distributed.my_batch_rows`); None without batches."""
    return _shard_at_positions(model, spec, names, [spec.position])[spec.position]


def _shard_at_positions(
    model, spec: ActivationRequest, names: Sequence[str], positions: Sequence[Position]
) -> dict[str, dict[str, Tensor | None]]:
    """`activation_shard` at several positions from one forward: position -> hook -> rows."""
    n_suffix = suffix_length(model.tokenizer, fmt=spec.fmt, append=spec.append)
    device = model_device(model)
    out = {p: {n: [] for n in names} for p in positions}
    order = _rank_rows_by_length(model.tokenizer, spec)
    batches = [order[i : i + spec.batch_size] for i in range(0, len(order), spec.batch_size)]
    quiet = not spec.progress or len(batches) < 3 or not distributed.is_main()
    for batch in tqdm(batches, desc="cache activations", disable=quiet, leave=False):
        tokens, mask = tokenize_prompts(
            model.tokenizer,
            [spec.prompts[i] for i in batch],
            n_ctx=model.cfg.n_ctx,
            fmt=spec.fmt,
            append=spec.append,
        )
        cache = run_with_cache(
            model,
            tokens.to(device),
            mask.to(device),
            names,
            stop_at_layer=stop_layer_for(names),
        )
        for p, n in itertools.product(positions, names):
            out[p][n].append(
                select_position(cache[n], mask, tokens, position=p, n_suffix=n_suffix).float().cpu()
            )
    # Back to prompt order: chunk row k holds prompt order[k], row order[k] - first of this block.
    first = min(order, default=0)
    placed = torch.tensor(order, dtype=torch.long) - first
    return {
        p: {
            n: _unsorted(torch.cat(chunks), placed) if chunks else None
            for n, chunks in by_name.items()
        }
        for p, by_name in out.items()
    }


def _rank_rows_by_length(tokenizer, spec: ActivationRequest) -> list[int]:
    """This rank's prompt indices (its block, `distributed.my_batch_rows`) from shortest to
    longest, so that its batches pad little; the rows go back to prompt order afterwards."""
    rows = [
        i for batch in distributed.my_batch_rows(len(spec.prompts), spec.batch_size) for i in batch
    ]
    texts = [spec.prompts[i] for i in rows]
    return [rows[i] for i in length_order(tokenizer, texts, fmt=spec.fmt, append=spec.append)]


def _unsorted(
    acts: Float[Tensor, "rows d_model"], placed: Int[Tensor, " rows"]
) -> Float[Tensor, "rows d_model"]:
    out = torch.empty_like(acts)
    out[placed] = acts
    return out
