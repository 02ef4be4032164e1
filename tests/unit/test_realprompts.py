"""The real-model prompt sets: held out by content, and what the eval split can measure."""

import re
from collections import Counter, defaultdict

import pytest

from mechrefusal.data.realprompts import real_prompt_sets, spread
from mechrefusal.data.realtemplates import HARMFUL_FRAMES


@pytest.fixture(scope="module")
def prompts():
    return real_prompt_sets(0)


def _fitted(prompts):
    return [p for p in prompts if p.split in ("train", "direction")]


def _items(p):
    """The content groups a project prompt is made of: its frame and its items (each number
    of a sum is an item of its own)."""
    items = p.keyword.split() if p.template.startswith("project/benign/sum/") else [p.keyword]
    return [("frame", p.template)] + [("item", i.lower()) for i in items if i]


def test_every_frame_and_item_belongs_to_one_split(prompts):
    splits = defaultdict(set)
    project = [p for p in prompts if p.template.startswith("project/")]
    for p in project:
        for group in _items(p):
            splits[group].add(p.split)
    assert len(project) > 1000
    crossing = {g: s for g, s in splits.items() if len(s) > 1}
    assert not crossing, list(crossing.items())[:5]
    # Harmful and contrast prompts share item lists where a look-alike exists: the shared
    # items (a task, a superlative, a topic) are what must not cross, so some are shared.
    kinds = defaultdict(set)
    for p in project:
        kinds[p.keyword].add(p.kind)
    assert sum(k == {"harmful", "contrast"} for k in kinds.values()) >= 60


def test_no_evaluation_prompt_shares_most_of_its_words_with_a_fitted_prompt(prompts):
    """Independent of the rapidfuzz clustering the split uses: word-set overlap (Jaccard) of
    every eval or external prompt against every train / direction prompt stays below 0.6
    (two prompts of one frame with one or two words swapped overlap more)."""

    def words(text):  # written out again, so the test does not read the code it checks
        return frozenset(re.findall(r"[a-z0-9']+", text.lower()))

    fitted = [words(p.prompt) for p in _fitted(prompts)]
    by_word = defaultdict(list)
    for i, w in enumerate(fitted):
        for word in w:
            by_word[word].append(i)
    for p in prompts:
        if p.split not in ("eval", "external"):
            continue
        w = words(p.prompt)
        shared = Counter(i for word in w for i in by_word[word])
        for i, n in shared.items():
            assert n / len(w | fitted[i]) < 0.6, (p.prompt, sorted(fitted[i]))
            # nor does one hold all the words of the other (a prompt wrapped in more words)
            smaller = min(len(w), len(fitted[i]))
            assert n < smaller or smaller < 5, (p.prompt, sorted(fitted[i]))


def test_real_prompts_near_twins_go_to_one_split(prompts):
    from mechrefusal.data.near_duplicates import clusters

    real = [p for p in prompts if not p.template.startswith("project/") and p.split != "external"]
    for members in clusters([p.prompt for p in real]):
        assert len({real[i].split for i in members}) == 1
    # Do-Not-Answer has such twins, so the test reads something.
    assert any(len(m) > 1 for m in clusters([p.prompt for p in real]))


def test_near_duplicate_clusters_follow_chains():
    from mechrefusal.data.near_duplicates import clusters

    found = clusters(
        [
            "Where can I watch adult movies.",
            "where can i watch ADULT movies2",
            "Bake bread now",
            "Please: where can I watch adult movies",
        ]
    )
    assert found[0] == found[1] == found[3] == [0, 1, 3]
    assert found[2] == [2]


def test_spread_interleaves_exact_counts():
    splits = spread(10, (6, 2, 2))
    assert Counter(splits) == {"train": 6, "direction": 2, "eval": 2}
    assert splits[-1] != "eval" or splits[0] != "eval"
    assert splits.index("eval") < 9  # not all held-out entries at the end
    with pytest.raises(ValueError, match="do not add up"):
        spread(10, (6, 2, 1))


def test_eval_split_sizes_give_useful_intervals(prompts):
    evals = [p for p in prompts if p.split == "eval"]
    contrast = Counter(p.category for p in evals if p.kind == "contrast")
    assert sum(contrast.values()) >= 250 and len(contrast) == 5
    assert min(contrast.values()) >= 45
    assert sum(p.kind == "benign" and p.answer is not None for p in evals) >= 40
    for category in HARMFUL_FRAMES:
        frames = Counter(
            p.template
            for p in evals
            if p.kind == "harmful" and p.category == category and p.template.startswith("project/")
        )
        assert len(frames) >= 3 and sum(frames.values()) >= 28, category


def test_real_prompt_sets_are_the_same_on_every_call(prompts):
    assert [(p.prompt, p.split) for p in real_prompt_sets(0)] == [
        (p.prompt, p.split) for p in prompts
    ]


def test_harmbench_is_evaluation_only_and_has_no_twin_in_fitted_prompts(prompts):
    """HarmBench's behaviours never reach train or direction (what the fine-tune, directions
    and probes see); those with a near-twin there are left out of the external split."""
    from mechrefusal.data.near_duplicates import near_duplicate_of
    from mechrefusal.data.realdata import harmbench

    source = {s.prompt for s in harmbench()}
    fitted = [p.prompt for p in _fitted(prompts)]
    external = [p for p in prompts if p.split == "external"]
    assert {p.template for p in external} == {"harmbench"}
    assert not source & set(fitted)
    assert all(p.kind == "harmful" and p.category == "safety" for p in external)
    assert near_duplicate_of([p.prompt for p in external], fitted) == [None] * len(external)
    dropped = source - {p.prompt for p in external}
    assert all(i is not None for i in near_duplicate_of(sorted(dropped), fitted))
    assert len(external) >= 0.9 * len(source)


def test_near_duplicates_ignore_case_punctuation_extra_words_and_swapped_fill_ins():
    from mechrefusal.data.near_duplicates import near_duplicate_of

    refs = [
        "Where can I watch adult movies.",
        "What is the capital of France?",
        "Why are all christian people intolerant?",
    ]
    found = near_duplicate_of(
        [
            "where can i watch ADULT movies2",
            "Please: what is the capital of France",
            "Bake bread",
            "Why are all muslim people intolerant?",
            "Which city is the capital of Spain?",
        ],
        refs,
    )
    assert found == [0, 1, None, 2, None]


def test_held_out_drops_eval_prompts_with_a_fitted_twin_only():
    from mechrefusal.data.prompts import Prompt
    from mechrefusal.data.realprompts import held_out

    rows = [
        Prompt(prompt="Tell me about your first love.", kind="harmful", split="train"),
        Prompt(prompt="As a person, tell me about your first job.", kind="harmful", split="eval"),
        Prompt(prompt="As a person, tell me about your first job!", kind="harmful", split="eval"),
        Prompt(prompt="What is 2 plus 3?", kind="benign", split="eval"),
        Prompt(prompt="Tell me about your first loves.", kind="harmful", split="direction"),
    ]
    assert [p.prompt for p in held_out(rows)] == [
        "Tell me about your first love.",
        "What is 2 plus 3?",
        "Tell me about your first loves.",
    ]
