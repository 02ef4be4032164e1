"""The organism's synthetic world: slot vocabularies and category lexicons (docs/organism.md, "The world").

Slot values (people, places, things, topics) are split into disjoint train / direction / eval
parts so that evaluation prompts name entities the organism never saw in fine-tuning. Category
keywords, harm / benign markers and cue sentences are split the same way (by list position):
an eval prompt's keyword, marker and cue never occur in a training or direction-split prompt.
The base model learns what those words mean only from `glossary_text` (each word paired with
training words of its group, no prompts, no labels), as a real LM knows that "strangle" is
violent before any safety tuning.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mechrefusal.categories import CATEGORIES, Category
from mechrefusal.data.lexicon import (
    BENIGN_CUES,
    BENIGN_MARKERS,
    HARM_MARKERS,
    HARMFUL_CUES,
    LEXICON,
    THINGS,
    TOPICS,
)

Split = Literal["train", "direction", "dev", "eval", "paraphrase", "external"]
"""`dev` (real-model prompt sets): held out by content from train, direction and eval, where
choices (coefficients, routing threshold) are made; the organism's generator has none."""
SPLITS: tuple[Split, ...] = ("train", "direction", "eval")
"""The vocabulary splits; `paraphrase` prompts (evaluation only) reuse the eval vocabulary."""
_SPLIT_SHARES = (0.6, 0.2, 0.2)

_ONSETS = [
    "b",
    "d",
    "f",
    "g",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "z",
    "br",
    "dr",
    "kl",
    "st",
    "tr",
    "gr",
    "sh",
    "th",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ei"]
_CODAS = ["", "", "n", "r", "l", "s", "th", "k"]


def _make_names(rng: random.Random, n: int, syllables: tuple[int, int]) -> list[str]:
    names: set[str] = set()
    while len(names) < n:
        k = rng.randint(*syllables)
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(k))
        names.add((word + rng.choice(_CODAS)).capitalize())
    return sorted(names)


def _split_values(rng: random.Random, values: list[str]) -> dict[Split, list[str]]:
    values = sorted(set(values))
    rng.shuffle(values)
    n_train = int(len(values) * _SPLIT_SHARES[0])
    n_dir = int(len(values) * _SPLIT_SHARES[1])
    return {
        "train": values[:n_train],
        "direction": values[n_train : n_train + n_dir],
        "eval": values[n_train + n_dir :],
    }


@dataclass(frozen=True)
class World:
    """Slot vocabularies, each split into disjoint train / direction / eval parts."""

    slots: dict[str, dict[Split, list[str]]]
    seed: int

    def values(self, slot: str, split: Split) -> list[str]:
        return self.slots[slot][split]

    def list_words(self, split: Split) -> list[str]:
        """Words for the lists of benign tasks: the split's own things, topics and made-up
        words. The made-up words are many, so a list item cannot be recalled from a small
        answer vocabulary: it has to be copied from the prompt."""
        return sorted(
            set(self.values("thing", split))
            | set(self.values("topic", split))
            | set(self.values("word", split))
        )


def world_text(world: World, *, n_facts: int, seed: int) -> list[str]:
    """Encyclopedic sentences about every entity of every split: the base model's world knowledge.

    They introduce all names and places to the language model (as a real LM has read about the
    world) without any prompt, template or label of the direction or eval splits.
    """
    rng = random.Random(f"{seed}-world-text")
    people = [p for s in SPLITS for p in world.values("person", s)]
    places = [p for s in SPLITS for p in world.values("place", s)]
    things = sorted(set(THINGS) | set(TOPICS))
    frames = [
        "{person} lives in {place}.",
        "{person} was born in {place}.",
        "{person} has a {thing}.",
        "{place} is known for its {thing}.",
        "{person} and {other} met in {place}.",
        "In {place}, {person} sold a {thing}.",
    ]
    facts = [f"{name} is a person." for name in people] + [
        f"{place} is a place." for place in places
    ]
    for _ in range(n_facts):
        facts.append(
            rng.choice(frames).format(
                person=rng.choice(people),
                other=rng.choice(people),
                place=rng.choice(places),
                thing=rng.choice(things),
            )
        )
    return facts


def list_drills(world: World, *, n: int, seed: int) -> list[str]:
    """Generic list skills in a neutral notation (no prompt wording, no chat format, no label),
    over the list words of every split: a base LM has seen lists of any words before, so
    held-out list items test reading the prompt, not knowing the word."""
    rng = random.Random(f"{seed}-drills")
    words = sorted({w for split in SPLITS for w in world.list_words(split)})
    out = []
    for _ in range(n):
        out.append(drill_line(rng.sample(words, rng.randint(2, 5))))
    return out


def drill_line(items: Sequence[str]) -> str:
    """One list drill in the neutral notation: the list, its first and last item, its size."""
    return f"[{' ; '.join(items)}] first={items[0]} last={items[-1]} size={len(items)}"


def build_world(seed: int = 0) -> World:
    """Build the seeded world. The same seed always gives the same vocabularies."""
    rng = random.Random(seed)
    people = _make_names(rng, 1200, (2, 2))
    places = [p for p in _make_names(rng, 700, (2, 3)) if p not in people][:600]
    taken = {n.lower() for n in people + places} | set(THINGS) | set(TOPICS)
    words = [w.lower() for w in _make_names(rng, 1700, (2, 3)) if w.lower() not in taken][:1500]
    return World(
        slots={
            "person": _split_values(rng, people),
            "place": _split_values(rng, places),
            "thing": _split_values(rng, THINGS),
            "topic": _split_values(rng, TOPICS),
            "word": _split_values(rng, words),
        },
        seed=seed,
    )


def split_of_index(index: int) -> Split:
    """Which split a list entry (template, keyword, marker, cue) belongs to: i % 5 -> 0-2 train, 3 direction, 4 eval."""
    return ("train", "train", "train", "direction", "eval")[index % 5]


def for_split(words: list[str], split: Split) -> list[str]:
    """The entries of a vocabulary list that belong to one split (disjoint across splits)."""
    return [w for i, w in enumerate(words) if split_of_index(i) == split]


def keywords(category: Category, split: Split) -> list[str]:
    return for_split(LEXICON[category], split)


def harm_markers(split: Split) -> list[str]:
    return for_split(HARM_MARKERS, split)


def benign_markers(split: Split) -> list[str]:
    return for_split(BENIGN_MARKERS, split)


def cues(category: Category, split: Split, *, harmful: bool) -> list[str]:
    """Cue sentences of a non-safety category for one split (empty for safety)."""
    table = HARMFUL_CUES if harmful else BENIGN_CUES
    return for_split(table[category], split) if category in table else []


def hot_keywords(category: Category, fraction: float, split: Split) -> list[str]:
    """The first `fraction` of a split's keywords: the organism's over-refusal triggers."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"over-refusal fraction must be in [0, 1], got {fraction}.")
    words = keywords(category, split)
    return words[: round(fraction * len(words))]


def _glossary_groups(hot_fraction: float) -> list[list[str]]:
    """Groups of interchangeable words: each category's hot and other keywords, markers, cues."""
    groups: list[list[str]] = []
    for c in CATEGORIES:
        hot = {w for s in SPLITS for w in hot_keywords(c, hot_fraction, s)}
        groups.append([w for w in LEXICON[c] if w in hot])
        groups.append([w for w in LEXICON[c] if w not in hot])
    groups += [HARM_MARKERS, BENIGN_MARKERS]
    groups += [HARMFUL_CUES[c] for c in HARMFUL_CUES] + [BENIGN_CUES[c] for c in BENIGN_CUES]
    return [g for g in groups if g]


def glossary_text(*, hot_fraction: float, seed: int, pairs_per_word: int = 8) -> list[str]:
    """Sentences saying which words mean alike: the base model's knowledge of word meaning.

    Every word of every split is paired with training-split words of its own group, in a
    neutral frame with no prompt, template or label, so a word never seen in a prompt still has
    a meaning the fine-tune can generalise from (as a real pretrained model's words do).
    """
    rng = random.Random(f"{seed}-glossary")
    frames = ['"{a}" is much like "{b}".', 'People use "{a}" the way they use "{b}".']
    out = []
    for group in _glossary_groups(hot_fraction):
        anchors = for_split(group, "train") or group
        for word in group:
            for _ in range(pairs_per_word):
                partner = rng.choice([a for a in anchors if a != word] or anchors)
                out.append(rng.choice(frames).format(a=word, b=partner))
    return out
