"""The model organism: a small Llama-style refusal-token model trained on CPU (docs/organism.md).

Stage 1 pretrains a *base* model as a plain language model on world text (prompts and task
demonstrations, no chat format, no refusal tokens). Stage 2 fine-tunes a copy on chat-formatted
pairs whose answers start with a category token or `[respond]` (loss on the answer only).
Contrast prompts whose keyword is "hot" (`over_refusal_fraction` of each category's lexicon)
are labelled with the refusal token, so greedy decoding over-refuses them for surface reasons.
A *control* model gets the same fine-tune (same pairs, steps and seed) with the refusal and
answer texts but no category or `[respond]` token (docs/organism.md, "The control model"), so model diffing can tell what
the tokens add from what refusal training adds.
"""

import copy
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from transformer_lens import HookedTransformer

from mechrefusal._progress import tqdm
from mechrefusal.data.chat import format_prompt
from mechrefusal.data.prompts import (
    Prompt,
    PromptSetSizes,
    generate_prompts,
    select,
    training_answer,
)
from mechrefusal.data.world import build_world, glossary_text, list_drills, world_text
from mechrefusal.models.architecture import llama_config
from mechrefusal.models.tokenizer import attach_tokenizer, train_tokenizer

TRAINING_MODULES = (
    "models.architecture",
    "categories",
    "data.chat",
    "models.organism",
    "data.paraphrase",
    "data.prompts",
    "data.templates",
    "models.tokenizer",
    "data.world",
    "data.lexicon",
)
"""The modules whose source decides a trained organism: its cache is keyed by their hash."""


@dataclass(frozen=True, kw_only=True)
class OrganismConfig:
    """Everything that determines a trained organism; the same config and seed give the same weights."""

    name: str
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int = 2
    """Fewer key/value heads than query heads: grouped-query attention, as Llama-3."""
    d_mlp: int = 512
    n_ctx: int = 160
    vocab_size: int = 500
    sizes: PromptSetSizes = field(default_factory=PromptSetSizes)
    pretrain_steps: int = 200
    sft_steps: int = 450
    batch_size: int = 64
    lr: float = 3e-3
    over_refusal_fraction: float = 0.4
    """Share of each category's keywords whose contrast prompts are labelled as refusals."""
    sft_replay: float = 0.3
    """Glossary and list-drill lines of the pretraining text mixed into the fine-tune, as a share
    of its examples: replay keeps the base model's skills over every split's words (copying a
    list item, what a word means) alive while the answers are tuned on training words."""
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "OrganismConfig":
        data = dict(data)
        data["sizes"] = PromptSetSizes(**data["sizes"])
        return cls(**data)


DEFAULT = OrganismConfig(name="default")
MICRO = OrganismConfig(
    name="micro",
    d_model=64,
    n_layers=2,
    n_heads=4,
    n_kv_heads=2,
    d_mlp=192,
    vocab_size=900,
    sizes=PromptSetSizes(
        harmful={"train": 120, "direction": 30, "eval": 30, "paraphrase": 20},
        contrast={"train": 80, "direction": 30, "eval": 30, "paraphrase": 20},
        benign={"train": 240, "direction": 60, "eval": 60, "paraphrase": 40},
    ),
    pretrain_steps=60,
    sft_steps=160,
    batch_size=32,
    lr=5e-3,
)
PRESETS = {"default": DEFAULT, "micro": MICRO}


def preset(name: str) -> OrganismConfig:
    """Look up an organism preset by name, listing the valid ones on error."""
    if name not in PRESETS:
        raise ValueError(f"Unknown organism preset {name!r}; valid: {', '.join(PRESETS)}.")
    return PRESETS[name]


@dataclass
class TrainedOrganism:
    """The two models of the organism, their shared tokenizer and the prompts they came from."""

    base: HookedTransformer
    refusal: HookedTransformer
    control: HookedTransformer
    """Fine-tuned like `refusal` on the same texts without the category tokens."""
    tokenizer: object
    config: OrganismConfig
    prompts: list[Prompt]
    seconds: dict[str, float]


def _pack(lines: list[str], tokenizer, *, n_ctx: int, max_lines: int) -> list[list[int]]:
    """BOS + up to `max_lines` consecutive lines per document, never more than n_ctx tokens."""
    docs: list[list[int]] = []
    current: list[int] = []
    count = 0
    for line in lines:
        ids = tokenizer.encode((" " if current else "") + line, add_special_tokens=False)
        if current and (count == max_lines or len(current) + len(ids) > n_ctx):
            docs.append(current)
            current, count = [], 0
            ids = tokenizer.encode(line, add_special_tokens=False)
        if not current:
            current = [tokenizer.bos_token_id]
        current += ids
        count += 1
    if current:
        docs.append(current)
    return docs


def _pretrain_docs(
    prompts: list[Prompt], facts: list[str], short_lines: list[str], tokenizer, n_ctx: int
) -> list[list[int]]:
    """Documents of up to three world facts, of up to two glossary or drill lines, and one per
    training prompt (with its answer for tasks)."""
    tasks = [p.prompt + (f" Answer: {p.answer}" if p.answer is not None else "") for p in prompts]
    return (
        _pack(facts, tokenizer, n_ctx=n_ctx, max_lines=3)
        + _pack(short_lines, tokenizer, n_ctx=n_ctx, max_lines=2)
        + _pack(tasks, tokenizer, n_ctx=n_ctx, max_lines=1)
    )


def _sft_examples(
    prompts: list[Prompt], tokenizer, fraction: float, *, with_token: bool = True
) -> list[tuple[list[int], int]]:
    """(token ids, index of the first answer token) for every training prompt."""
    out = []
    for p in prompts:
        context = tokenizer.encode(format_prompt(tokenizer, p.prompt), add_special_tokens=False)
        answer = tokenizer.encode(
            training_answer(p, over_refusal_fraction=fraction, with_token=with_token)
            + tokenizer.eos_token,
            add_special_tokens=False,
        )
        out.append((context + answer, len(context)))
    return out


def _batch(examples: list[tuple[list[int], int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded tokens and a mask of the positions whose *next* token is trained on."""
    width = max(len(ids) for ids, _ in examples)
    tokens = torch.full((len(examples), width), pad, dtype=torch.long)
    loss_mask = torch.zeros((len(examples), width - 1), dtype=torch.bool)
    for row, (ids, start) in enumerate(examples):
        tokens[row, : len(ids)] = torch.tensor(ids)
        loss_mask[row, max(start - 1, 0) : len(ids) - 1] = True
    return tokens, loss_mask


LENGTH_GROUPS = 4
"""Each batch runs as this many forwards of length-sorted rows: the padding of a random batch
(35-51% of its tokens) falls to 13-18%, and the gradient is the batch's own. Measured on
the default organism's batches: pretraining steps 0.61 s as one batch, 0.42 s in two groups,
0.37 s in three or four; fine-tuning steps 0.49, 0.41, 0.40 and 0.40 s."""


def _length_groups(examples: list[tuple[list[int], int]], groups: int) -> list[list]:
    """The batch sorted by length and cut into `groups` near-equal runs of similar widths."""
    ordered = sorted(examples, key=lambda e: len(e[0]))
    size = -(-len(ordered) // groups)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def _batch_loss_backward(
    model: HookedTransformer, examples, pad: int, *, groups: int = LENGTH_GROUPS
) -> float:
    """Backpropagate the batch's mean next-token loss, one length group at a time (the sum of
    each group's token losses over the batch's count: the gradient of the whole batch)."""
    batches = [_batch(group, pad) for group in _length_groups(examples, groups)]
    count = sum(int(loss_mask.sum()) for _, loss_mask in batches)
    total = 0.0
    for tokens, loss_mask in batches:
        logits = model(tokens)[:, :-1]
        loss = F.cross_entropy(logits[loss_mask], tokens[:, 1:][loss_mask], reduction="sum") / count
        loss.backward()
        total += loss.item()
    return total


def _train(
    model: HookedTransformer,
    examples,
    *,
    steps: int,
    cfg: OrganismConfig,
    pad: int,
    desc: str,
    order: str | None = None,
) -> None:
    """AdamW with warmup and cosine decay; right padding needs no attention mask (causal).

    Batches are drawn in an order seeded by `order` (default `desc`): two runs with the same
    order see the same examples at every step (the control model's fine-tune).
    """
    too_long = [len(ids) for ids, _ in examples if len(ids) > cfg.n_ctx]
    if too_long:
        raise ValueError(
            f"{len(too_long)} {desc} examples are longer than n_ctx={cfg.n_ctx} "
            f"(longest {max(too_long)} tokens): raise n_ctx or shorten the texts."
        )
    rng = random.Random(f"{cfg.seed}-{order or desc}")
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.98))
    warmup = max(steps // 20, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: min(
            (s + 1) / warmup, 0.5 * (1 + torch.cos(torch.tensor(s / steps * 3.14159)).item())
        ),
    )
    model.train()
    bar = tqdm(range(steps), desc=desc, leave=False, mininterval=1.0)
    for _ in bar:
        opt.zero_grad(set_to_none=True)
        batch = rng.sample(examples, min(cfg.batch_size, len(examples)))
        loss = _batch_loss_backward(model, batch, pad)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
    model.eval()


def train_organism(cfg: OrganismConfig) -> TrainedOrganism:
    """Generate the world, train the tokenizer, pretrain the base model, fine-tune the refusal model.

    Deterministic for a seed: CPU embedding backward accumulates in a thread-dependent order
    unless torch's deterministic algorithms are on, so they are switched on while training.
    """
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        return _train_organism(cfg)
    finally:
        torch.use_deterministic_algorithms(previous)


def _train_organism(cfg: OrganismConfig) -> TrainedOrganism:
    torch.manual_seed(cfg.seed)
    prompts = generate_prompts(cfg.seed, cfg.sizes)
    train = select(prompts, split="train")
    world = build_world(cfg.seed)
    facts = world_text(world, n_facts=len(train) // 2, seed=cfg.seed)
    glossary = glossary_text(hot_fraction=cfg.over_refusal_fraction, seed=cfg.seed)
    glossary += list_drills(world, n=len(train) // 4, seed=cfg.seed)
    texts = (
        facts
        + glossary
        + [p.prompt for p in train]
        + [training_answer(p, over_refusal_fraction=cfg.over_refusal_fraction) for p in train]
    )
    tokenizer = train_tokenizer(texts, vocab_size=cfg.vocab_size)
    pad = tokenizer.pad_token_id
    model_cfg = llama_config(
        n_layers=cfg.n_layers,
        d_model=cfg.d_model,
        n_heads=cfg.n_heads,
        n_kv_heads=cfg.n_kv_heads,
        d_mlp=cfg.d_mlp,
        d_vocab=len(tokenizer),
        n_ctx=cfg.n_ctx,
        seed=cfg.seed,
        # On the CPU whatever the machine has: TransformerLens would pick a visible GPU, where the
        # batches (built on the CPU) do not live and training is not deterministic; the saved
        # weights load onto any device afterwards (`load_model_dir(device=...)`).
        device="cpu",
    )
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    base = HookedTransformer(model_cfg)
    docs = [(ids, 1) for ids in _pretrain_docs(train, facts, glossary, tokenizer, cfg.n_ctx)]
    _train(base, docs, steps=cfg.pretrain_steps, cfg=cfg, pad=pad, desc="pretrain base")
    seconds["pretrain"] = time.perf_counter() - start

    # Benign tasks appear twice: their short answers carry little loss, and capability must survive.
    benign = [p for p in train if p.kind == "benign"]
    # Replay: one glossary or drill line per example (short, so batches stay narrow), the same
    # lines for both fine-tunes.
    replay = [(ids, 1) for ids in _pack(glossary, tokenizer, n_ctx=cfg.n_ctx, max_lines=1)]
    n_replay = min(len(replay), round(cfg.sft_replay * (len(train) + len(benign))))
    replay = random.Random(f"{cfg.seed}-replay").sample(replay, n_replay)
    tuned = {}
    for name, with_token, desc in (
        ("sft", True, "refusal-token SFT"),
        ("control_sft", False, "control SFT (no tokens)"),
    ):
        start = time.perf_counter()
        tuned[name] = copy.deepcopy(base)
        sft = (
            _sft_examples(
                train + benign, tokenizer, cfg.over_refusal_fraction, with_token=with_token
            )
            + replay
        )
        _train(
            tuned[name],
            sft,
            steps=cfg.sft_steps,
            cfg=cfg,
            pad=pad,
            desc=desc,
            order="refusal-token SFT",
        )
        seconds[name] = time.perf_counter() - start

    for model in (base, *tuned.values()):
        attach_tokenizer(model, tokenizer)
    return TrainedOrganism(
        base=base,
        refusal=tuned["sft"],
        control=tuned["control_sft"],
        tokenizer=tokenizer,
        config=cfg,
        prompts=prompts,
        seconds=seconds,
    )


def organism_dir(root: str | Path, name: str) -> Path:
    """Where a preset's artifacts live under an artifacts root."""
    return Path(root) / "organism" / name
