"""Train one organism recipe and print its evaluation as one JSON line (the recipe tables of docs/organism.md).

The README's "How the recipe was chosen" and "Capacity and pretraining, measured" tables come
from runs of this script. A recipe is an organism preset (`--preset`, default
`default`) with JSON overrides of its `OrganismConfig`, plus
experimental switches that are *not* library features (they patch the training code for
this run only, to test an idea before building it in):

- `--pack`: pretraining documents packed into full `n_ctx` rows instead of padded batches;
- `--syllable`: a pre-tokenizer that splits every word at its vowel groups, so no word is ever
  one token (the BPE merges within those pieces only);
- `--copy-drills N`: N extra list drills over fresh made-up words (never world words), which
  can only be solved by copying;
- `--word-tokens thing,topic,word`: every value of those world slots (all splits) becomes one
  whole-word token, so copying a list item is copying one token;
- `--tied`: the unembedding tied to the embedding while training (W_U = W_E^T, as SmolLM2),
  so copying a token needs no per-word output map;
- `--drills K`: K times as many list drills over world words;
- `--extra-templates FILE`: more harmful templates ({category: [template]}, split by the usual
  index rule);
- `--extra-cues FILE`: more training-split cue sentences and safety markers
  ({"harmful"|"benign": {category: [cue]}, "harm_markers": [..], "benign_markers": [..]});
  the held-out splits keep their own, so scores stay comparable (the ten extra templates and
  cues per list that these switches were first tried with are now the library's own);
- `--wrap P`: each training prompt gets, with probability P each, an opener and a trailing
  aside (surface noise, no meaning), so no fixed sentence frame identifies a category;
- `--lead-cues P`: each training harmful or contrast prompt has its cue sentence moved from
  the end to the front with probability P (no template leads with its cue; the paraphrase
  grammar does);
- `--noise P`: while fine-tuning, each prompt token is swapped with probability P for a
  prompt token drawn from the same batch (word-dropout-like noise, new at every step), so no
  single token or frame decides the answer;
- `--eval-templates FILE`: train as usual, then score on a generator with those templates
  added, so recipes with different template lists are scored on the same held-out prompts.

`--device cuda` trains on a GPU (the organism's CPU determinism does not carry over bit for
bit, so compare GPU runs with GPU runs); `--no-control` skips the control fine-tune; `--save DIR` keeps the refusal model. Usage:

    python scripts/organism_trial.py '{"pretrain_steps": 1000, "n_layers": 6}' --pack --name L6
"""

import argparse
import collections
import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import mechrefusal.models.organism as organism  # noqa: E402
from mechrefusal._entry import run_entry  # noqa: E402
from mechrefusal.data.world import _make_names, drill_line  # noqa: E402
from mechrefusal.models import tokenizer as tok  # noqa: E402
from mechrefusal.scoring.evaluation import answer_prompts, summarize  # noqa: E402

SYLLABLE = r"Ġ?[^aeiouAEIOUĠ]*[aeiouAEIOU]+(?:[^aeiouAEIOUĠ]+$)?"


def patch_device(device: str) -> None:
    """Build the models on `device` and move each training batch there."""
    config, batch = organism.llama_config, organism._batch
    organism.llama_config = lambda **kw: config(**kw, device=device)
    organism._batch = lambda ex, pad: tuple(t.to(device) for t in batch(ex, pad))


def patch_packing() -> None:
    """Greedy-pack the (shuffled) pretraining documents into rows of at most n_ctx tokens."""
    docs_of = organism._pretrain_docs

    def packed(prompts, facts, short, tokenizer, n_ctx):
        docs = docs_of(prompts, facts, short, tokenizer, n_ctx)
        random.Random(0).shuffle(docs)
        rows, row = [], []
        for doc in docs:
            if row and len(row) + len(doc) > n_ctx:
                rows.append(row)
                row = []
            row = row + doc
        return rows + [row]

    organism._pretrain_docs = packed


def patch_syllable_tokenizer() -> None:
    """Byte-level BPE whose merges never cross a vowel-group boundary inside a word."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    def train(texts, *, vocab_size):
        core = Tokenizer(models.BPE())
        core.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.ByteLevel(add_prefix_space=False),
                pre_tokenizers.Split(Regex(SYLLABLE), behavior="isolated"),
            ]
        )
        core.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=tok.CONTROL_TOKENS + tok.all_special_token_strings(),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        core.train_from_iterator(texts, trainer=trainer)
        return tok.wrap_tokenizer(core)

    organism.train_tokenizer = train


def patch_copy_drills(n: int) -> None:
    """Append `n` list drills over fresh made-up words (none of them a world value)."""
    drills_of = organism.list_drills

    def drills(world, *, seed, **kw):
        out = drills_of(world, seed=seed, **kw)
        rng = random.Random(f"{seed}-copy")
        taken = {w.lower() for s in world.slots.values() for v in s.values() for w in v}
        for _ in range(n):
            items: list[str] = []
            size = rng.randint(2, 5)
            while len(items) < size:
                word = _make_names(rng, 1, (2, 3))[0].lower()
                if word not in taken and word not in items:
                    items.append(word)
            out.append(drill_line(items))
        return out

    organism.list_drills = drills


def patch_word_tokens(world, slots: list[str]) -> None:
    """Make every value of the world's `slots` (all splits) one whole-word token of its own."""
    from tokenizers import AddedToken

    train = organism.train_tokenizer
    words = sorted({w for slot in slots for s in world.slots[slot].values() for w in s})

    def train_with_words(texts, *, vocab_size):
        tokenizer = train(texts, vocab_size=vocab_size)
        tokenizer.add_tokens([AddedToken(w, single_word=True, normalized=False) for w in words])
        return tokenizer

    organism.train_tokenizer = train_with_words


def patch_tied_embeddings() -> None:
    """Train with the unembedding tied to the embedding (W_U = W_E^T, as SmolLM2), then store
    the tied matrix as an ordinary W_U so the saved model is a plain HookedTransformer."""
    train = organism._train

    def tied_train(model, examples, **kw):
        embed, unembed = model.embed, model.unembed
        unembed.W_U.requires_grad_(False)
        unembed.forward = lambda r: unembed.hook_out(
            torch.nn.functional.linear(unembed.hook_in(r), embed.W_E, unembed.b_U)
        )
        try:
            return train(model, examples, **kw)
        finally:
            del unembed.forward
            unembed.W_U.data.copy_(embed.W_E.data.T)
            unembed.W_U.requires_grad_(True)

    organism._train = tied_train


def patch_drill_share(factor: float) -> None:
    """Scale the number of list drills over world words (pretraining and replay) by `factor`."""
    drills_of = organism.list_drills
    organism.list_drills = lambda world, *, n, seed: drills_of(
        world, n=round(n * factor), seed=seed
    )


def add_templates(path: str) -> None:
    """Append the harmful templates of a JSON file ({category: [template]}) to the generator's
    lists, where the usual index rule (i mod 5) assigns them to the splits. A template already
    there is not added again (`--extra-templates F --eval-templates F` scores on F once)."""
    import mechrefusal.data.prompts as prompts

    for category, templates in json.loads(Path(path).read_text()).items():
        have = prompts.HARMFUL_TEMPLATES[category]
        have.extend(t for t in templates if t not in have)


def patch_extra_cues(path: str) -> None:
    """Give the training split the cues and markers of a JSON file as well as its own."""
    import mechrefusal.data.prompts as prompts

    extra = json.loads(Path(path).read_text())
    cues_of, harm_of, benign_of = prompts.cues, prompts.harm_markers, prompts.benign_markers

    def on_train(own: list[str], more: list[str], split: str) -> list[str]:
        return own + more if split == "train" else own

    prompts.cues = lambda category, split, *, harmful: on_train(
        cues_of(category, split, harmful=harmful),
        extra["harmful" if harmful else "benign"].get(category, []),
        split,
    )
    prompts.harm_markers = lambda split: on_train(harm_of(split), extra["harm_markers"], split)
    prompts.benign_markers = lambda split: on_train(
        benign_of(split), extra["benign_markers"], split
    )


OPENERS = [
    "Hi.",
    "Hello!",
    "Quick question.",
    "Hey there.",
    "Sorry to bother you.",
    "Okay.",
    "One more thing.",
    "Good morning.",
    "So,",
    "Listen.",
    "Um,",
    "Please help.",
]
ASIDES = [
    "Thanks!",
    "Thank you.",
    "Cheers.",
    "I am in a hurry.",
    "It is raining here.",
    "Thanks a lot.",
    "No rush.",
    "I appreciate it.",
    "This is my first time asking.",
    "I am new here.",
]


def _rewrite_training_prompts(seed: str, rewrite) -> None:
    """Pass every training-split prompt through `rewrite(prompt, rng) -> text`, one seeded rng
    per selection (held-out splits are never touched)."""
    select = organism.select

    def rewritten(chosen, **kw):
        out = select(chosen, **kw)
        if kw.get("split") != "train":
            return out
        rng = random.Random(seed)
        return [replace(q, prompt=rewrite(q, rng)) for q in out]

    organism.select = rewritten


def patch_wrap(p: float) -> None:
    """Wrap each training prompt in an opener and an aside, each with probability `p`."""

    def wrap(q, rng: random.Random) -> str:
        text = q.prompt
        if rng.random() < p:
            text = f"{rng.choice(OPENERS)} {text}"
        if rng.random() < p:
            text = f"{text} {rng.choice(ASIDES)}"
        return text

    _rewrite_training_prompts("wrap", wrap)


def patch_lead_cues(p: float) -> None:
    """Move the trailing cue sentence of each training harmful or contrast prompt to its front
    with probability `p` (every template appends its cue; the paraphrase grammar leads with it)."""
    import mechrefusal.data.prompts as prompts

    def lead(q, rng: random.Random) -> str:
        if q.kind == "benign" or q.category is None:
            return q.prompt
        own = prompts.cues(q.category, "train", harmful=q.kind == "harmful")
        cue = next((c for c in own if q.prompt.endswith(f" {c}")), None)
        if cue and rng.random() < p:
            return f"{cue} {q.prompt[: -len(cue) - 1]}"
        return q.prompt

    _rewrite_training_prompts("lead-cues", lead)


def _shared_ends(prompts: list[list[int]]) -> tuple[int, int]:
    """Lengths of the token runs every prompt starts and ends with: the chat header and the end
    of turn with the assistant header, read off the batch (any tokenizer splits them its own
    way), never overlapping within the shortest prompt."""
    head = 0
    while all(len(p) > head and p[head] == prompts[0][head] for p in prompts):
        head += 1
    shortest = min(map(len, prompts))
    tail = 0
    while tail < shortest - head and all(p[-1 - tail] == prompts[0][-1 - tail] for p in prompts):
        tail += 1
    return head, tail


def patch_token_noise(p: float) -> None:
    """Swap each prompt (non-trained) token of a fine-tuning batch, with probability `p`, for a
    prompt token drawn from the batch; the chat header and the end of turn with the assistant
    header (the token runs all the batch's prompts share) stay. Pretraining rows (trained from
    their second token) never change, nor does a batch with a single fine-tuning row."""
    batch_of = organism._batch
    gen = torch.Generator().manual_seed(0)

    def noisy(examples, pad):
        tokens, loss_mask = batch_of(examples, pad)
        rows = [(row, ids[:start]) for row, (ids, start) in enumerate(examples) if start > 1]
        if len(rows) < 2:
            return tokens, loss_mask
        head, tail = _shared_ends([prompt for _, prompt in rows])
        text = torch.zeros_like(tokens, dtype=torch.bool)
        for row, prompt in rows:
            text[row, head : len(prompt) - tail] = True
        swap = text & (torch.rand(tokens.shape, generator=gen) < p)
        pool = tokens[text]
        if swap.any() and len(pool):
            picks = torch.randint(len(pool), (int(swap.sum()),), generator=gen)
            tokens = tokens.clone()
            tokens[swap] = pool[picks]
        return tokens, loss_mask

    organism._batch = noisy


def patch_no_control() -> None:
    """Train the control fine-tune for zero steps (it is not evaluated here)."""
    train = organism._train

    def maybe_train(model, examples, *, desc, **kw):
        if desc.startswith("control"):
            return None
        return train(model, examples, desc=desc, **kw)

    organism._train = maybe_train


def metrics(model, prompts) -> dict:
    """Rates of figure 00 plus capability per benign task kind."""
    answers = answer_prompts(model, prompts, batch_size=128, progress=False)
    rates = summarize(answers).to_dict()
    by_task = collections.defaultdict(list)
    confusion = collections.defaultdict(collections.Counter)
    for a in answers:
        if a.prompt.kind == "harmful":
            confusion[a.prompt.category][a.first_token] += 1
        if a.correct is not None:
            by_task[a.prompt.template.split("/")[-2]].append(a.correct)
    return {
        "harm": {k: round(v["value"], 3) for k, v in rates["harmful_refusal"].items()},
        "tok": {k: round(v["value"], 3) for k, v in rates["category_accuracy"].items()},
        "over": {k: round(v["value"], 3) for k, v in rates["over_refusal"].items()},
        "cap": round(rates["capability"]["value"], 3) if rates["capability"] else None,
        "cap_by_task": {k: round(sum(v) / len(v), 3) for k, v in by_task.items()},
        "confusion": {c: dict(n.most_common(3)) for c, n in confusion.items()},
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="?", default="{}", help="OrganismConfig fields, JSON")
    parser.add_argument("--name", default="trial")
    parser.add_argument(
        "--preset", default="default", help="organism preset the recipe starts from"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--pack", action="store_true")
    parser.add_argument("--syllable", action="store_true")
    parser.add_argument("--copy-drills", type=int, default=0)
    parser.add_argument("--no-control", action="store_true")
    parser.add_argument("--tied", action="store_true")
    parser.add_argument("--save", default="", help="save the refusal model to this directory")
    parser.add_argument("--extra-templates", default="", help="JSON file of harmful templates")
    parser.add_argument(
        "--eval-templates", default="", help="evaluate on a generator with these templates added"
    )
    parser.add_argument("--extra-cues", default="", help="JSON file of training-split cues")
    parser.add_argument("--wrap", type=float, default=0.0, help="opener/aside probability")
    parser.add_argument("--lead-cues", type=float, default=0.0, help="cue-first probability")
    parser.add_argument("--noise", type=float, default=0.0, help="SFT prompt-token noise")
    parser.add_argument("--drills", type=float, default=1.0, help="scale the world-word drills")
    parser.add_argument(
        "--word-tokens", default="", help="world slots made whole tokens, e.g. thing,topic,word"
    )
    args = parser.parse_args(argv)
    if args.device != "cpu":
        patch_device(args.device)
    if args.pack:
        patch_packing()
    if args.syllable:
        patch_syllable_tokenizer()
    if args.copy_drills:
        patch_copy_drills(args.copy_drills)
    if args.extra_templates:
        add_templates(args.extra_templates)
    if args.extra_cues:
        patch_extra_cues(args.extra_cues)
    if args.wrap:
        patch_wrap(args.wrap)
    if args.lead_cues:
        patch_lead_cues(args.lead_cues)
    if args.noise:
        patch_token_noise(args.noise)
    if args.tied:
        patch_tied_embeddings()
    if args.drills != 1.0:
        patch_drill_share(args.drills)
    if args.no_control:
        patch_no_control()
    overrides = json.loads(args.overrides)
    cfg = replace(organism.preset(args.preset), **overrides)
    if args.word_tokens:
        patch_word_tokens(organism.build_world(cfg.seed), args.word_tokens.split(","))
    start = time.time()
    trained = organism.train_organism(cfg)
    train = [p for p in trained.prompts if p.split == "train"]
    held_out = trained.prompts
    if args.eval_templates:
        # The same world and sizes, with more held-out templates to score every recipe on.
        add_templates(args.eval_templates)
        held_out = organism.generate_prompts(cfg.seed, cfg.sizes)
    record = {
        "trial": args.name,
        "overrides": overrides,
        "switches": {
            k: getattr(args, k)
            for k in (
                "pack",
                "syllable",
                "copy_drills",
                "device",
                "word_tokens",
                "tied",
                "drills",
                "extra_templates",
                "eval_templates",
                "extra_cues",
                "wrap",
                "lead_cues",
                "noise",
            )
        },
        "seconds": {k: round(v, 1) for k, v in trained.seconds.items()},
        "train": metrics(trained.refusal, random.Random(0).sample(train, min(800, len(train)))),
        "eval": metrics(trained.refusal, [p for p in held_out if p.split == "eval"]),
        "paraphrase": metrics(trained.refusal, [p for p in held_out if p.split == "paraphrase"]),
    }
    record["total_s"] = round(time.time() - start, 1)
    if args.save:
        from mechrefusal.models.loading import save_model_dir

        save_model_dir(args.save, trained.refusal, trained.tokenizer, model_id=f"trial:{args.name}")
    print(json.dumps(record), flush=True)
    return record


if __name__ == "__main__":
    run_entry(main)
