"""The real-model prompt sets: split discipline and what the eval split can measure."""

from collections import Counter, defaultdict

from mechrefusal.realprompts import PROJECT_HARMFUL, hash_split, real_prompt_sets


def test_project_frames_never_cross_splits_and_real_prompts_split_by_hash():
    prompts = real_prompt_sets(0)
    splits_of_frame = defaultdict(set)
    for p in prompts:
        if p.template.startswith("project/"):
            splits_of_frame[p.template].add(p.split)
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
