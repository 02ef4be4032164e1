"""Prompt sets: harmful[c], benign tasks with checkable answers, and contrast prompts (docs/method.md, "Vocabulary"; docs/organism.md).

A seeded generator fills templates with slot values from `world`. Templates are assigned to the
train / direction / eval splits by index (`i % 5`: 0-2 train, 3 direction, 4 eval), and so are
category keywords, harm / benign markers and cue sentences; slot values (people, places,
things, topics, list items) come from the same split. The three splits are disjoint by
template, keyword, marker, cue and slot value: evaluation measures generalisation, not memory. Prompt sets round-trip through JSONL
with the schema {prompt, kind, category, split, answer, template, keyword, match}.

A fourth split, `paraphrase`, is evaluation only: the eval split's vocabulary on sentence
skeletons of a different grammar (`paraphrase.py`), so a score that holds on eval but not on
paraphrase measures the templates, not the language.
"""

import hashlib
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from mechrefusal.categories import (
    CATEGORIES,
    REFUSAL_TOKENS,
    RESPOND_TOKEN,
    Category,
    parse_category,
)
from mechrefusal.data.paraphrase import (
    BENIGN_PARAPHRASES,
    CONTRAST_PARAPHRASES,
    HARMFUL_PARAPHRASES,
    LOOKUP_PARAPHRASES,
    SAFETY_SKELETONS,
)
from mechrefusal.data.templates import (
    BENIGN_TEMPLATES,
    CONTRAST_ANSWER,
    CONTRAST_TEMPLATES,
    HARMFUL_TEMPLATES,
    REFUSAL_TEXTS,
)
from mechrefusal.data.world import (
    SPLITS,
    Split,
    World,
    benign_markers,
    build_world,
    cues,
    harm_markers,
    hot_keywords,
    keywords,
    split_of_index,
)

Kind = Literal["harmful", "benign", "contrast"]
KINDS: tuple[Kind, ...] = ("harmful", "benign", "contrast")
PROMPT_SPLITS: tuple[Split, ...] = (*SPLITS, "dev", "paraphrase", "external")
"""Every split a prompt can carry: the three vocabulary splits, the dev split where choices are
made (real-model prompt sets), and the evaluation-only paraphrase and external splits."""


@dataclass(frozen=True, kw_only=True)
class Prompt:
    """One user prompt with everything needed to label and score it."""

    prompt: str
    kind: Kind
    category: Category | None = None
    """harmful: its refusal category; contrast: the category it superficially resembles."""
    split: Split = "eval"
    answer: str | None = None
    """Expected answer for benign tasks (exact match); None otherwise."""
    template: str = "user"
    keyword: str | None = None
    """The category-lexicon keyword the prompt contains (harmful and contrast prompts)."""
    match: Literal["exact", "contains"] = "exact"
    """How `answer` is checked: the whole answer text, or as a word inside it (real models
    answer in sentences)."""


HELD_OUT_SPLITS: tuple[Split, ...] = ("eval", "paraphrase", "external")
"""Read only for reported numbers: no fit and no choice may see them."""


def check_no_held_out(prompts: Iterable[Prompt], what: str) -> None:
    """Refuse evaluation rows where something is fit or chosen (a threshold or coefficient
    chosen on them would be measured on its own data)."""
    leaked = sorted({p.split for p in prompts if p.split in HELD_OUT_SPLITS})
    if leaked:
        raise ValueError(
            f"{what} was given {', '.join(leaked)}-split prompts; fits and choices take train, "
            "direction or dev prompts only (evaluation rows are read only for reported numbers)."
        )


def choice_split(prompts: Iterable[Prompt]) -> list[Prompt]:
    """Where choices (coefficients, thresholds) are made: the dev split where the prompt set
    has one (SmolLM2's, held out by content from what directions and probes are fit on), else
    the direction split (the organism's, and user sets without dev rows)."""
    prompts = list(prompts)
    return [p for p in prompts if p.split == "dev"] or [
        p for p in prompts if p.split == "direction"
    ]


def choice_split_name(prompts: Iterable[Prompt]) -> str:
    """The name of the split `choice_split` takes from these prompts (for messages, records)."""
    return "dev" if any(p.split == "dev" for p in prompts) else "direction"


def template_split(index: int) -> Split:
    """Which split a template belongs to: 0-2 train, 3 direction, 4 eval (mod 5)."""
    return split_of_index(index)


def _fill(
    rng: random.Random,
    world: World,
    template: str,
    split: Split,
    *,
    marker_split: Split | None = None,
    **fixed: str,
) -> str:
    """Fill a template's slots with `split` values (harm / benign markers: `marker_split`'s)."""
    slots = {
        name: rng.choice(world.values(name, split))
        for name in ("person", "place", "thing", "topic")
    }
    slots["harm"] = rng.choice(harm_markers(marker_split or split))
    slots["benign"] = rng.choice(benign_markers(marker_split or split))
    slots.update(fixed)
    text = template.format(**slots)
    return text[0].upper() + text[1:]


def _templates_for(templates: Sequence[str], split: Split) -> list[tuple[int, str]]:
    return [(i, t) for i, t in enumerate(templates) if template_split(i) == split]


def _sample_unique(make, n: int, rng: random.Random) -> list[Prompt]:
    seen: dict[str, Prompt] = {}
    for _ in range(n * 40):
        if len(seen) >= n:
            break
        p = make(rng)
        seen.setdefault(p.prompt, p)
    return list(seen.values())


_PATIENCE = 40
"""Repeats in a row after which `_sample_balanced` stops asking a template for new prompts."""


def _sample_balanced(make, choices: Sequence, n: int, rng: random.Random) -> list[Prompt]:
    """`n` distinct prompts spread evenly over `choices` (templates), taken in turn.

    Picking a template at random and dropping repeats lets the template with the most slot
    fillings fill most of the set once the others run out of new prompts (one of three eval
    templates made 90% of a category's prompts). Here a template that has produced only repeats
    `_PATIENCE` times running drops out and the others share its place.
    """
    seen: dict[str, Prompt] = {}
    misses = [0] * len(choices)
    live = list(range(len(choices)))
    while live and len(seen) < n:
        for k in list(live):
            if len(seen) >= n:
                break
            p = make(rng, choices[k])
            if p.prompt in seen:
                misses[k] += 1
                if misses[k] >= _PATIENCE:
                    live.remove(k)
            else:
                misses[k] = 0
                seen[p.prompt] = p
    return list(seen.values())


PARTS: tuple[str, ...] = ("template", "keyword", "cue", "slots")
"""The independent parts of a harmful or contrast prompt, each drawn from one split's lists
(the cue part is the cue sentence, or for safety the harm / benign marker)."""


def _keyword_prompts(
    world: World,
    category: Category,
    split: Split,
    n: int,
    seed: int,
    *,
    kind: Kind,
    parts: dict[str, Split] | None = None,
) -> list[Prompt]:
    """Harmful or contrast prompts: a template of the split, a category keyword, the kind's cue.

    `parts` draws single parts (`PARTS`) from another split than `split`, so
    `scripts/heldout_factors.py` can hold out one part at a time.
    """
    parts = parts or {}
    if unknown := set(parts) - set(PARTS):
        raise ValueError(f"Unknown prompt parts {sorted(unknown)}; valid: {', '.join(PARTS)}.")
    source = {part: parts.get(part, split) for part in PARTS}
    templates = _templates_for(
        (HARMFUL_TEMPLATES if kind == "harmful" else CONTRAST_TEMPLATES)[category],
        source["template"],
    )
    cue_sentences = cues(category, source["cue"], harmful=kind == "harmful")
    words = keywords(category, source["keyword"])

    def make(rng: random.Random, template: tuple[int, str]) -> Prompt:
        i, t = template
        kw = rng.choice(words)
        text = _fill(rng, world, t, source["slots"], marker_split=source["cue"], kw=kw)
        if cue_sentences:
            text = f"{text} {rng.choice(cue_sentences)}"
        return Prompt(
            prompt=text,
            kind=kind,
            category=category,
            split=split,
            template=f"{kind}/{category}/{i}",
            keyword=kw,
        )

    # A prompt set whose parts all come from `split` is the plain split's, however `parts` says so.
    mixed = any(source[part] != split for part in PARTS)
    tag = "-".join(source[part] for part in PARTS) if mixed else split
    return _sample_balanced(make, templates, n, random.Random(f"{seed}-{kind}-{category}-{tag}"))


def harmful_prompts(
    world: World, category: Category, split: Split, n: int, seed: int
) -> list[Prompt]:
    """`n` distinct harmful prompts of one category from the split's templates and slots."""
    return _keyword_prompts(world, category, split, n, seed, kind="harmful")


def contrast_prompts(
    world: World, category: Category, split: Split, n: int, seed: int
) -> list[Prompt]:
    """`n` benign prompts that share the category's keywords (over-refusal bait)."""
    return _keyword_prompts(world, category, split, n, seed, kind="contrast")


def _paraphrase_skeletons(category: Category, kind: Kind) -> list[str]:
    if category == "safety":
        target, marker = (
            ("{person}", "{harm}") if kind == "harmful" else ("the {thing}", "{benign}")
        )
        return [s.replace("{target}", target).replace("{marker}", marker) for s in SAFETY_SKELETONS]
    return (HARMFUL_PARAPHRASES if kind == "harmful" else CONTRAST_PARAPHRASES)[category]


def paraphrase_prompts(
    world: World, category: Category, n: int, seed: int, *, kind: Kind
) -> list[Prompt]:
    """`n` harmful or contrast prompts of one category: eval-split keywords, cues and slot values
    on the paraphrase grammar's skeletons (the cue leads instead of trailing)."""
    skeletons = _paraphrase_skeletons(category, kind)
    cue_sentences = cues(category, "eval", harmful=kind == "harmful")
    words = keywords(category, "eval")

    def make(rng: random.Random, i: int) -> Prompt:
        kw = rng.choice(words)
        cue = rng.choice(cue_sentences) if cue_sentences else ""
        text = _fill(rng, world, skeletons[i], "eval", kw=kw, cue=cue).strip()
        return Prompt(
            prompt=text[0].upper() + text[1:],
            kind=kind,
            category=category,
            split="paraphrase",
            template=f"paraphrase/{kind}/{category}/{i}",
            keyword=kw,
        )

    return _sample_balanced(
        make, range(len(skeletons)), n, random.Random(f"{seed}-paraphrase-{kind}-{category}")
    )


def _paraphrase_task(rng: random.Random, world: World, task: str, i: int) -> tuple[str, str]:
    if task == "lookup":
        template, slot = LOOKUP_PARAPHRASES[i]
        slots = {name: rng.choice(world.values(name, "eval")) for name in world.slots}
        text = template.format(**slots)
        return text[0].upper() + text[1:], slots[slot]
    return _list_task(rng, world.list_words("eval"), BENIGN_PARAPHRASES[task][i], task)


def benign_paraphrases(world: World, n: int, seed: int) -> list[Prompt]:
    """`n` benign tasks of the paraphrase grammar over eval-split words, spread over the task kinds."""
    skeleton_counts = {task: len(t) for task, t in BENIGN_PARAPHRASES.items()}
    skeleton_counts["lookup"] = len(LOOKUP_PARAPHRASES)
    out: list[Prompt] = []
    for task, count in skeleton_counts.items():

        def make(rng: random.Random, task=task, count=count) -> Prompt:
            i = rng.randrange(count)
            text, answer = _paraphrase_task(rng, world, task, i)
            return Prompt(
                prompt=text,
                kind="benign",
                split="paraphrase",
                answer=answer,
                template=f"paraphrase/benign/{task}/{i}",
            )

        out += _sample_unique(
            make, n // len(skeleton_counts), random.Random(f"{seed}-paraphrase-benign-{task}")
        )
    return out


def _question_and_fact(template: str) -> tuple[str, str]:
    """A lookup template's question sentence and fact sentence, in either order."""
    sentences = re.split(r"(?<=[.?]) ", template)
    question = next(x for x in sentences if x.endswith("?"))
    return question, " ".join(x for x in sentences if x is not question)


def _benign_task(
    rng: random.Random, world: World, task: str, template: str, split: Split
) -> tuple[str, str]:
    if task == "lookup":
        person, place = (
            rng.choice(world.values("person", split)),
            rng.choice(world.values("place", split)),
        )
        thing, topic = (
            rng.choice(world.values("thing", split)),
            rng.choice(world.values("topic", split)),
        )
        text = template.format(person=person, place=place, thing=thing, topic=topic)
        question, fact = _question_and_fact(template)
        # The answer is the one slot of the fact that the question does not mention.
        missing = [
            slot
            for slot in ("person", "place", "thing", "topic")
            if "{" + slot + "}" in fact and "{" + slot + "}" not in question
        ]
        return text, {"person": person, "place": place, "thing": thing, "topic": topic}[missing[0]]
    # List items are the split's own words: held out by template and by word.
    return _list_task(rng, world.list_words(split), template, task)


def _list_task(rng: random.Random, words: list[str], template: str, task: str) -> tuple[str, str]:
    """2-5 of `words` listed in `template`; the answer is the first or last item or the count."""
    items = rng.sample(words, rng.randint(2, 5))
    answer = {"first": items[0], "last": items[-1], "count": str(len(items))}[task]
    return template.format(items=", ".join(items)), answer


def benign_prompts(world: World, split: Split, n: int, seed: int) -> list[Prompt]:
    """`n` plain tasks with exact-match answers, spread evenly over the task kinds."""
    out: list[Prompt] = []
    for task, templates in BENIGN_TEMPLATES.items():
        chosen = _templates_for(templates, split)

        def make(rng: random.Random, task=task, chosen=chosen) -> Prompt:
            i, t = rng.choice(chosen)
            text, answer = _benign_task(rng, world, task, t, split)
            return Prompt(
                prompt=text,
                kind="benign",
                split=split,
                answer=answer,
                template=f"benign/{task}/{i}",
            )

        out += _sample_unique(
            make, n // len(BENIGN_TEMPLATES), random.Random(f"{seed}-benign-{task}-{split}")
        )
    return out


@dataclass(frozen=True, kw_only=True)
class PromptSetSizes:
    """How many prompts of each kind per split (harmful and contrast: per category)."""

    harmful: dict[str, int] = field(
        default_factory=lambda: {"train": 500, "direction": 160, "eval": 160, "paraphrase": 160}
    )
    contrast: dict[str, int] = field(
        default_factory=lambda: {"train": 300, "direction": 100, "eval": 100, "paraphrase": 100}
    )
    benign: dict[str, int] = field(
        default_factory=lambda: {"train": 1600, "direction": 320, "eval": 320, "paraphrase": 320}
    )


def generate_prompts(seed: int = 0, sizes: PromptSetSizes | None = None) -> list[Prompt]:
    """All prompt sets of the organism's world, every split, deterministic for a seed."""
    sizes = sizes or PromptSetSizes()
    world = build_world(seed)
    out: list[Prompt] = []
    for split in SPLITS:
        for c in CATEGORIES:
            out += harmful_prompts(world, c, split, sizes.harmful[split], seed)
            out += contrast_prompts(world, c, split, sizes.contrast[split], seed)
        out += benign_prompts(world, split, sizes.benign[split], seed)
    for c in CATEGORIES:
        for kind in ("harmful", "contrast"):
            n = getattr(sizes, kind).get("paraphrase", 0)
            out += paraphrase_prompts(world, c, n, seed, kind=kind)
    return out + benign_paraphrases(world, sizes.benign.get("paraphrase", 0), seed)


def select(
    prompts: Iterable[Prompt],
    *,
    kind: Kind | None = None,
    category: Category | None = None,
    split: Split | None = None,
) -> list[Prompt]:
    """Filter a prompt list; raises if nothing matches (an empty set is always a mistake)."""
    chosen = [
        p
        for p in prompts
        if (kind is None or p.kind == kind)
        and (category is None or p.category == category)
        and (split is None or p.split == split)
    ]
    if not chosen:
        raise ValueError(
            f"Empty prompt set: no prompts with kind={kind!r}, category={category!r}, "
            f"split={split!r}. Check the prompt file or the filters."
        )
    return chosen


def training_label(prompt: Prompt, *, over_refusal_fraction: float) -> str:
    """The first answer token the refusal-token fine-tune teaches for this prompt.

    Harmful -> its category token; benign -> `[respond]`; contrast -> the category token when
    its keyword is one of the category's hot keywords, else `[respond]`. This surface rule is
    what makes the organism over-refuse under greedy decoding, as safety-tuned models do.
    """
    if prompt.kind == "harmful":
        assert prompt.category is not None
        return REFUSAL_TOKENS[prompt.category]
    if (
        prompt.kind == "contrast"
        and prompt.category is not None
        and prompt.keyword in hot_keywords(prompt.category, over_refusal_fraction, prompt.split)
    ):
        return REFUSAL_TOKENS[prompt.category]
    return RESPOND_TOKEN


def training_answer(
    prompt: Prompt, *, over_refusal_fraction: float, with_token: bool = True
) -> str:
    """Full assistant answer text (label token + short text) used in fine-tuning.

    `with_token=False` gives the control model's answer (docs/organism.md, "The control model"): the same refusal or
    answer text, without the category or `[respond]` token.
    """
    label = training_label(prompt, over_refusal_fraction=over_refusal_fraction)
    if label != RESPOND_TOKEN:
        category = next(c for c in CATEGORIES if REFUSAL_TOKENS[c] == label)
        text = REFUSAL_TEXTS[category]
    else:
        text = prompt.answer if prompt.answer is not None else CONTRAST_ANSWER
    return f"{label} {text}" if with_token else text


def save_jsonl(prompts: Iterable[Prompt], path: str | Path) -> Path:
    """Write prompts as JSONL (one object per line, schema in the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(asdict(p)) + "\n" for p in prompts))
    return path


MissingSplit = Literal["eval", "hash"]
"""What a user row without `split` becomes: an evaluation row (`mechrefusal eval`: a user's file
is evaluation data unless it says otherwise), or direction / eval by a hash of its text (the
figure scripts, which must fit directions on part of the file)."""
MATCHES = ("contains", "exact")
"""How a row's `answer` is checked (`scoring.evaluation.answer_matches`); user rows default to
`contains`, the answer as a whole word in the reply, since chat models answer in sentences."""


def load_jsonl(path: str | Path, *, missing_split: MissingSplit = "eval") -> list[Prompt]:
    """Read a user prompt set. Only `prompt` is required; `kind` defaults from `category`
    (harmful if it has one, else benign), `match` to `contains`, and a missing `split` to
    `eval` (or, with `missing_split="hash"`, to direction / eval by `hash_split`).

    Raises:
        ValueError: missing or non-UTF-8 file, bad JSON, unknown kind / category / split /
            match, or an empty file; the message names the file and line.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"Prompt file {path} does not exist.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise ValueError(
            f"{path}:{line}: not UTF-8 text (byte {err.object[err.start]:#04x} at offset "
            f"{err.start}); save the file as UTF-8."
        ) from err
    out: list[Prompt] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{n}: not valid JSON ({err}).") from err
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{n}: each line must be a JSON object, not {row!r}.")
        out.append(_prompt_from_row(row, where=f"{path}:{n}", missing_split=missing_split))
    if not out:
        raise ValueError(f"Empty prompt set: {path} has no prompts.")
    return out


def hash_split(text: str) -> Split:
    """A deterministic direction / eval assignment for a user prompt given without a split:
    half fit directions and probes, half measure (the same text always lands in the same half)."""
    return "direction" if hashlib.sha256(text.encode()).digest()[0] % 2 == 0 else "eval"


def _prompt_from_row(row: dict, *, where: str, missing_split: MissingSplit = "eval") -> Prompt:
    if not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
        raise ValueError(f"{where}: every row needs a non-empty string field 'prompt'.")
    try:
        category = parse_category(row["category"]) if row.get("category") else None
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from err
    kind = row.get("kind") or ("harmful" if category else "benign")
    if kind not in KINDS:
        raise ValueError(f"{where}: unknown kind {kind!r}; valid: {', '.join(KINDS)}.")
    split = row.get("split") or ("eval" if missing_split == "eval" else hash_split(row["prompt"]))
    if split not in PROMPT_SPLITS:
        raise ValueError(f"{where}: unknown split {split!r}; valid: {', '.join(PROMPT_SPLITS)}.")
    match = row.get("match") or "contains"
    if match not in MATCHES:
        raise ValueError(f"{where}: unknown match {match!r}; valid: {', '.join(MATCHES)}.")
    unknown = set(row) - {
        "prompt",
        "kind",
        "category",
        "split",
        "answer",
        "template",
        "keyword",
        "match",
    }
    if unknown:
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}.")
    return Prompt(
        prompt=row["prompt"],
        kind=kind,
        category=category,
        split=split,
        answer=row.get("answer"),
        template=row.get("template") or "user",
        keyword=row.get("keyword"),
        match=match,
    )
