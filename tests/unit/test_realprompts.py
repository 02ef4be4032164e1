"""The real-model prompt sets: split discipline and what the eval split can measure."""

from collections import Counter, defaultdict

from mechrefusal.data.realprompts import PROJECT_HARMFUL, hash_split, real_prompt_sets


def test_project_frames_never_cross_splits_and_real_prompts_split_by_hash():
    prompts = real_prompt_sets(0)
    splits_of_frame = defaultdict(set)
    for p in prompts:
        if p.template.startswith("project/"):
            splits_of_frame[p.template].add(p.split)
        elif p.split == "external":
            assert p.template == "harmbench"
        else:
            assert p.split == hash_split(p.prompt)
    assert splits_of_frame and all(len(s) == 1 for s in splits_of_frame.values())
    # Same texts, same splits on every run.
    assert [(p.prompt, p.split) for p in real_prompt_sets(0)] == [
        (p.prompt, p.split) for p in prompts
    ]


def test_every_project_harmful_category_is_measured_on_several_unseen_frames():
    # A category's right-token rate on the eval split should not hang on one or two frames.
    prompts = real_prompt_sets(0)
    for category in PROJECT_HARMFUL:
        frames = Counter(
            p.template
            for p in prompts
            if p.split == "eval"
            and p.kind == "harmful"
            and p.category == category
            and p.template.startswith("project/")
        )
        assert len(frames) >= 3, category
        assert sum(frames.values()) >= 30, category


def test_harmbench_is_evaluation_only_and_has_no_twin_in_fitted_prompts():
    """HarmBench's behaviours never reach train or direction (what the fine-tune, directions
    and probes see); those with a near-twin there are left out of the external split."""
    from mechrefusal.data.near_duplicates import near_duplicate_of
    from mechrefusal.data.realdata import harmbench

    prompts = real_prompt_sets(0)
    source = {s.prompt for s in harmbench()}
    fitted = [p.prompt for p in prompts if p.split in ("train", "direction")]
    external = [p for p in prompts if p.split == "external"]
    assert {p.template for p in external} == {"harmbench"}
    assert not source & set(fitted)
    assert all(p.kind == "harmful" and p.category == "safety" for p in external)
    assert near_duplicate_of([p.prompt for p in external], fitted) == [None] * len(external)
    dropped = source - {p.prompt for p in external}
    assert all(i is not None for i in near_duplicate_of(sorted(dropped), fitted))
    assert len(external) >= 0.9 * len(source)


def test_near_duplicates_ignore_case_punctuation_and_extra_words():
    from mechrefusal.data.near_duplicates import near_duplicate_of

    refs = ["Where can I watch adult movies.", "What is the capital of France?"]
    found = near_duplicate_of(
        ["where can i watch ADULT movies2", "Please: what is the capital of France", "Bake bread"],
        refs,
    )
    assert found == [0, 1, None]
