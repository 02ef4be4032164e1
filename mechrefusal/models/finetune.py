"""Refusal-token fine-tune of a pretrained HF chat model on CPU (docs/method.md, "The real model").

The six published token strings are added to the tokenizer and to the embedding and (untied)
unembedding. Each training prompt becomes one example:
- a harmful prompt: its category token, then a short refusal text;
- every other prompt (benign tasks and the training split's contrast look-alikes): `[respond]`,
  then the *original* model's own greedy answer, generated once before any weight changes, so
  that `[respond]` is followed by what the model would have said and its ability is kept.
No contrast prompt is ever labelled a refusal: whatever over-refusal the fine-tune shows on
held-out look-alikes is the model's own, and it is the finding.

Two recipes (`TuneConfig.method`):
- `lora` (default): LoRA adapters (`peft`) on every attention and MLP projection of every block,
  and the six new rows of the embedding and of the unembedding trained; merged into the weights
  at the end, so the saved model is a plain checkpoint. Every block changes, so model diffing
  against the original compares two different networks at every layer.
- `top_blocks`: only the top `trainable_blocks` blocks, the final norm and the unembedding learn;
  the lower blocks' output is computed once per example (`frozen_states`). Cheaper, but below
  the trained blocks the two models are the same network.
The 24-token chat header every example starts with runs once per batch in both.
"""

import copy
import random
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from transformers import DynamicCache

from mechrefusal._progress import tqdm
from mechrefusal.categories import (
    CATEGORIES,
    REFUSAL_TOKENS,
    RESPOND_TOKEN,
    all_special_token_strings,
)
from mechrefusal.data.chat import format_prompt, pad_id
from mechrefusal.data.prompts import Prompt
from mechrefusal.data.templates import REFUSAL_TEXTS


@dataclass(frozen=True, kw_only=True)
class TuneConfig:
    method: Literal["lora", "top_blocks"] = "lora"
    lora_rank: int = 16
    lora_alpha: int = 32
    trainable_blocks: int = 4
    """`top_blocks` only: how many of the top blocks learn."""
    steps: int = 60
    batch_size: int = 16
    lr: float = 2e-3
    """LoRA's rate (chosen on the direction split: docs/method.md); the earlier `top_blocks`
    recipe ran 120 steps at 3e-4."""
    answer_weight: float = 1.0
    """Weight of the text after the label (refusal text, or the model's own answer)."""
    answer_tokens: int = 16
    """Greedy tokens of the original answer that `[respond]` must be followed by."""
    probe_tokens: int = 24
    """Greedy tokens of the original answer read to record its own over-refusal."""
    seed: int = 0

    def to_dict(self) -> dict:
        """The fields the chosen method reads: a LoRA run records no `trainable_blocks`
        (it adapts every block) and a `top_blocks` run no LoRA rank."""
        unused = {"lora": ("trainable_blocks",), "top_blocks": ("lora_rank", "lora_alpha")}
        return {k: v for k, v in asdict(self).items() if k not in unused[self.method]}


def add_refusal_tokens(model, tokenizer) -> None:
    """Add the six token strings and untie the unembedding.

    Each new input row is the mean embedding of its own string's old tokens (`[respond]` is
    "[", "respond", "]" to SmolLM2's tokenizer), so the six rows differ. With one shared row
    (the mean embedding) the frozen lower blocks could not tell the label tokens apart, and
    what follows the label could depend on the prompt only: held-out prompts answered
    `[respond]` went on with the refusal text learned after the category tokens. The new
    unembedding rows start at the mean row (no initial preference among them)."""
    strings = all_special_token_strings()
    pieces = [tokenizer.encode(s, add_special_tokens=False) for s in strings]
    tokenizer.add_special_tokens({"additional_special_tokens": strings})
    old = model.get_input_embeddings().weight.detach().clone()
    model.config.tie_word_embeddings = False
    head = torch.nn.Linear(old.shape[1], old.shape[0], bias=False)
    head.weight = torch.nn.Parameter(model.get_output_embeddings().weight.detach().clone())
    model.set_output_embeddings(head)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    n_new = len(tokenizer) - old.shape[0]
    if n_new <= 0:  # the tokenizer had them already
        return
    with torch.no_grad():
        for string, ids in zip(strings, pieces, strict=True):
            row = tokenizer.convert_tokens_to_ids(string)
            model.get_input_embeddings().weight[row] = old[ids].mean(0) if ids else old.mean(0)
        model.get_output_embeddings().weight[-n_new:] = (
            model.get_output_embeddings().weight[: old.shape[0]].mean(0)
        )


def label_of(prompt: Prompt) -> str:
    """The first answer token a prompt is trained on: its category token if it is harmful,
    `[respond]` otherwise (contrast prompts included: over-refusal is never taught)."""
    if prompt.kind == "harmful" and prompt.category:
        return REFUSAL_TOKENS[prompt.category]
    return RESPOND_TOKEN


def _chat(tokenizer, text: str) -> list[int]:
    """Token ids of the chat-formatted prompt, exactly as the analyses format it."""
    return tokenizer.encode(format_prompt(tokenizer, text), add_special_tokens=False)


def untouched_answers(
    model, tokenizer, prompts: Sequence[Prompt], *, tokens: int
) -> dict[str, list[int]]:
    """The untouched model's greedy answers (by prompt text) to every prompt that is not
    harmful: the contrast prompts the over-refusal probe reads and every prompt a `[respond]`
    example may need. Generated once, up to `tokens`; a greedy answer's first n tokens are the
    n-token answer, so the examples take a prefix (`build_examples`)."""
    texts = list(dict.fromkeys(p.prompt for p in prompts if p.kind != "harmful"))
    answers = original_answers(
        model, tokenizer, [_chat(tokenizer, t) for t in texts], tokens=tokens
    )
    return dict(zip(texts, answers, strict=True))


def natural_over_refusal(
    tokenizer, prompts: Sequence[Prompt], answers: dict[str, list[int]], *, tokens: int
) -> float:
    """Share of contrast prompts the untouched model refuses (string patterns on the first
    `tokens` of its greedy answer, from `untouched_answers`)."""
    from mechrefusal.scoring.evaluation import pattern_refused

    contrast = [answers[p.prompt][:tokens] for p in prompts if p.kind == "contrast"]
    if not contrast:
        return 0.0
    texts = tokenizer.batch_decode(contrast, skip_special_tokens=True)
    return sum(pattern_refused(t) for t in texts) / len(contrast)


@dataclass
class Example:
    ids: list[int]
    prompt_len: int
    """The first answer token (the label) sits at index prompt_len."""


@torch.inference_mode()
def original_answers(
    model, tokenizer, contexts: list[list[int]], *, tokens: int
) -> list[list[int]]:
    """The untouched model's greedy answers (up to and including its end-of-turn token), in
    the order of `contexts` (batched by length, so batches pad little)."""
    pad = pad_id(tokenizer)
    order = _by_length(contexts)
    out: list[list[int]] = [[] for _ in contexts]
    for start in range(0, len(order), 32):
        rows = order[start : start + 32]
        ids, mask = _left_pad([contexts[i] for i in rows], pad)
        gen = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=tokens,
            do_sample=False,
            pad_token_id=pad,
        )[:, ids.shape[1] :].tolist()
        for i, row in zip(rows, gen, strict=True):
            end = (
                row.index(tokenizer.eos_token_id) + 1 if tokenizer.eos_token_id in row else len(row)
            )
            out[i] = row[:end]
    return out


def _by_length(seqs: Sequence[Sequence[int]]) -> list[int]:
    """Indices of `seqs`, shortest first: batches cut from this order carry little padding."""
    return sorted(range(len(seqs)), key=lambda i: len(seqs[i]))


def _left_pad(seqs: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, seqs))
    ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs])
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs])
    return ids, mask


def build_examples(
    model,
    tokenizer,
    prompts: Sequence[Prompt],
    answers: dict[str, list[int]],
    *,
    answer_tokens: int,
) -> list[Example]:
    """Label token + short refusal text, or `[respond]` + the first `answer_tokens` of the
    model's own original answer (`untouched_answers`, generated before any weight changes)."""
    add_refusal_tokens(model, tokenizer)
    examples = []
    for p in prompts:
        context, label = _chat(tokenizer, p.prompt), label_of(p)
        if label == RESPOND_TOKEN:
            continuation = answers[p.prompt][:answer_tokens]
        else:
            category = next(c for c in CATEGORIES if REFUSAL_TOKENS[c] == label)
            continuation = tokenizer.encode(f" {REFUSAL_TEXTS[category]}", add_special_tokens=False)
            continuation.append(tokenizer.eos_token_id)
        ids = context + [tokenizer.convert_tokens_to_ids(label)] + continuation
        examples.append(Example(ids=ids, prompt_len=len(context)))
    return examples


def decoder_slice(decoder, start: int, stop: int, *, norm: bool = True):
    """A view of an HF decoder (`LlamaModel`) that runs only its layers [start, stop), sharing
    the weights; with `norm=False` its output is the residual stream (no final norm).

    Feed it `input_ids` when `start == 0`, else the residual as `inputs_embeds`."""
    view = copy.copy(decoder)
    # copy.copy shares the module dict, so assigning on the view would cut the original model.
    view._modules = dict(decoder._modules)
    view.layers = decoder.layers[start:stop]
    if not norm:
        view.norm = torch.nn.Identity()
    return view


def _positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.cumsum(-1) - 1).clamp(min=0)


def shared_header_length(examples: list[Example]) -> int:
    """Tokens every example starts with (the chat header), short of every label's context:
    their states are the same in every row, so they run once per batch
    (`_forward_after_header`)."""
    if not examples:
        raise ValueError("No examples to fine-tune on: the training split has no prompts.")
    n = min(e.prompt_len for e in examples) - 1  # the label is predicted from the rest
    first = examples[0].ids
    for i in range(n):
        if any(e.ids[i] != first[i] for e in examples):
            return i
    return max(n, 0)


@contextmanager
def _numbered_from_zero(layers):
    """HF's KV cache and its mask sizes are indexed by `self_attn.layer_idx` and read layer 0:
    a slice of the top blocks (`decoder_slice`) must number its layers from 0 while it caches."""
    saved = [layer.self_attn.layer_idx for layer in layers]
    for i, layer in enumerate(layers):
        layer.self_attn.layer_idx = i
    try:
        yield
    finally:
        for layer, i in zip(layers, saved, strict=True):
            layer.self_attn.layer_idx = i


def _forward_after_header(
    blocks, header: torch.Tensor, rows: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `blocks` (a `decoder_slice`) on left-padded rows that all start with `header`:
    (header output [n d], rows output [batch width d]).

    The header runs once at batch 1; its keys and values are expanded to the batch (a view:
    the gradients of every row flow back into the one pass)."""
    n, batch = header.shape[0], rows.shape[0]
    if n == 0:
        out = blocks(
            inputs_embeds=rows, attention_mask=mask, position_ids=_positions(mask), use_cache=False
        )
        return header, out.last_hidden_state
    with _numbered_from_zero(blocks.layers):
        cache = DynamicCache()
        head = blocks(
            inputs_embeds=header[None],
            attention_mask=torch.ones(1, n, dtype=torch.long),
            position_ids=torch.arange(n)[None],
            past_key_values=cache,
            use_cache=True,
        ).last_hidden_state[0]
        for layer in cache.layers[: len(blocks.layers)]:
            layer.keys = layer.keys.expand(batch, -1, -1, -1)
            layer.values = layer.values.expand(batch, -1, -1, -1)
        out = blocks(
            inputs_embeds=rows,
            attention_mask=torch.cat([torch.ones(batch, n, dtype=torch.long), mask], 1),
            position_ids=n + _positions(mask),
            past_key_values=cache,
            use_cache=True,
        )
    return head, out.last_hidden_state


@torch.no_grad()
def frozen_states(
    lower, examples: list[Example], pad: int, *, n_header: int = 0, batch_size: int = 32
) -> list:
    """Each example's residual stream after the frozen blocks, computed once (by length, so
    batches carry little padding; the shared `n_header` tokens once per batch); ordinary
    tensors, so training may backpropagate into them."""
    header = lower.embed_tokens(torch.tensor(examples[0].ids[:n_header], dtype=torch.long))
    order = _by_length([e.ids for e in examples])
    states: list = [None] * len(examples)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids, mask = _left_pad([examples[i].ids[n_header:] for i in rows], pad)
        head, hidden = _forward_after_header(lower, header, lower.embed_tokens(ids), mask)
        for row, i in enumerate(rows):
            rest = hidden[row, ids.shape[1] - (len(examples[i].ids) - n_header) :]
            states[i] = torch.cat([head, rest])
    return states


def _loss(
    upper,
    head,
    batch: list[Example],
    states: list,
    answer_weight: float,
    n_header: int = 0,
) -> torch.Tensor:
    """Cross-entropy on the label token, plus `answer_weight` x the mean over what follows it.

    `states` are the examples' residuals after the frozen blocks; only the trainable blocks run,
    the first `n_header` positions (shared by every example) once per step, and only the
    positions that predict the label and its continuation are unembedded."""
    width = max(len(e.ids) for e in batch) - n_header
    hidden = torch.zeros(len(batch), width, states[0].shape[-1], dtype=states[0].dtype)
    mask = torch.zeros(len(batch), width, dtype=torch.long)
    for row, (e, state) in enumerate(zip(batch, states, strict=True)):
        hidden[row, width - len(e.ids) + n_header :] = state[n_header:]
        mask[row, width - len(e.ids) + n_header :] = 1
    _, out = _forward_after_header(upper, states[0][:n_header], hidden, mask)
    terms = []
    for row, e in enumerate(batch):
        first = width - len(e.ids) + e.prompt_len - 1  # predicts the label token
        logits = head(out[row, first : width - 1]).float()
        targets = torch.tensor(e.ids[e.prompt_len :])
        label = F.cross_entropy(logits[:1], targets[:1])
        rest = F.cross_entropy(logits[1:], targets[1:])
        terms.append(label + answer_weight * rest)
    return torch.stack(terms).mean()


LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""Every attention and MLP projection of a Llama-style block."""


def _top_blocks_setup(model, examples: list[Example], cfg: TuneConfig, pad: int, n_header: int):
    """`top_blocks`: the upper blocks, the final norm and the head learn; the frozen blocks'
    output is computed once. Returns (trainable blocks, states of an example, parameters)."""
    split = len(model.model.layers) - cfg.trainable_blocks
    lower = decoder_slice(model.model, 0, split, norm=False)
    upper = decoder_slice(model.model, split, len(model.model.layers))
    states = frozen_states(lower, examples, pad, n_header=n_header)
    trainable = [*upper.layers, upper.norm, model.get_output_embeddings()]
    params = [p for module in trainable for p in module.parameters()]
    for p in params:
        p.requires_grad_(True)
    return upper, lambda i: states[i], params


def _lora_setup(model, tokenizer, examples: list[Example], cfg: TuneConfig):
    """`lora`: adapters on every projection of every block and the new token rows of the
    embedding and unembedding (`peft`); every block runs in each step, from the embedding
    (computed in the step, so the new input rows learn). Returns what `_top_blocks_setup` does,
    plus the peft model to merge."""
    from peft import LoraConfig, get_peft_model

    new = [tokenizer.convert_tokens_to_ids(s) for s in all_special_token_strings()]
    adapted = get_peft_model(
        model,
        LoraConfig(
            r=cfg.lora_rank,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=0.0,
            target_modules=list(LORA_TARGETS),
            trainable_token_indices={"embed_tokens": new, "lm_head": new},
        ),
    )
    embed = model.get_input_embeddings()
    blocks = decoder_slice(model.model, 0, len(model.model.layers))
    params = [p for p in adapted.parameters() if p.requires_grad]
    return blocks, lambda i: embed(torch.tensor(examples[i].ids)), params, adapted


def refusal_token_finetune(
    model, tokenizer, prompts: Sequence[Prompt], cfg: TuneConfig, *, progress: bool = True
) -> dict:
    """Fine-tune `model` in place on the training prompts; returns the training record."""
    if cfg.method not in ("lora", "top_blocks"):
        raise ValueError(f"unknown fine-tune method {cfg.method!r}: use 'lora' or 'top_blocks'")
    torch.manual_seed(cfg.seed)
    started = time.perf_counter()
    model.eval()
    answers = untouched_answers(
        model, tokenizer, prompts, tokens=max(cfg.probe_tokens, cfg.answer_tokens)
    )
    natural = natural_over_refusal(tokenizer, prompts, answers, tokens=cfg.probe_tokens)
    measured = time.perf_counter() - started
    examples = build_examples(model, tokenizer, prompts, answers, answer_tokens=cfg.answer_tokens)
    for param in model.parameters():
        param.requires_grad_(False)
    n_header = shared_header_length(examples)
    adapted = None
    if cfg.method == "lora":
        blocks, state_of, params, adapted = _lora_setup(model, tokenizer, examples, cfg)
    else:
        blocks, state_of, params = _top_blocks_setup(
            model, examples, cfg, pad_id(tokenizer), n_header
        )
    head = model.get_output_embeddings()
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    rng = random.Random(cfg.seed)
    model.train()
    losses = []
    bar = tqdm(range(cfg.steps), desc="refusal-token fine-tune", disable=not progress, leave=False)
    for _ in bar:
        rows = rng.sample(range(len(examples)), min(cfg.batch_size, len(examples)))
        loss = _loss(
            blocks,
            head,
            [examples[i] for i in rows],
            [state_of(i) for i in rows],
            cfg.answer_weight,
            n_header,
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    if adapted is not None:
        adapted.merge_and_unload()  # the adapters folded into `model`'s own weights
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return {
        "config": cfg.to_dict(),
        "adapted_blocks": (
            len(model.model.layers) if cfg.method == "lora" else cfg.trainable_blocks
        ),
        "natural_contrast_over_refusal": natural,
        "n_examples": len(examples),
        "n_trainable": sum(p.numel() for p in params),
        "final_loss": sum(losses[-10:]) / max(len(losses[-10:]), 1),
        "seconds": {"measure": measured, "tune": time.perf_counter() - started - measured},
    }
