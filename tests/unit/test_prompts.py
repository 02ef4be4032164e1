import re

import pytest

from mechrefusal.categories import CATEGORIES, REFUSAL_TOKENS, RESPOND_TOKEN
from mechrefusal.prompts import (
    BENIGN_TEMPLATES,
    CONTRAST_TEMPLATES,
    HARMFUL_TEMPLATES,
    Prompt,
    generate_prompts,
    hot_keywords,
    load_jsonl,
    save_jsonl,
    select,
    training_label,
)
from mechrefusal.world import build_world


@pytest.fixture(scope="module")
def prompts():
    return generate_prompts(0)


def test_deterministic():
    a, b = generate_prompts(3), generate_prompts(3)
    assert [p.prompt for p in a] == [p.prompt for p in b]
    assert [p.prompt for p in generate_prompts(4)] != [p.prompt for p in a]


def test_enough_templates_and_prompts(prompts):
    for c in CATEGORIES:
        assert len(HARMFUL_TEMPLATES[c]) >= 8 and len(CONTRAST_TEMPLATES[c]) >= 8
        assert len({p.prompt for p in prompts if p.kind == "harmful" and p.category == c}) >= 300
    assert len(BENIGN_TEMPLATES) >= 3


def test_splits_disjoint_by_template(prompts):
    by_split = {
        s: {p.template for p in prompts if p.split == s} for s in ("train", "direction", "eval")
    }
    assert not by_split["train"] & by_split["eval"]
    assert not by_split["train"] & by_split["direction"]
    assert not by_split["direction"] & by_split["eval"]


def test_splits_disjoint_by_slot_values(prompts):
    world = build_world(0)
    train_people = set(world.values("person", "train"))
    eval_people = set(world.values("person", "eval"))
    assert not train_people & eval_people
    words = lambda p: set(re.findall(r"[A-Z][a-z]+", p.prompt))  # noqa: E731
    eval_names = set().union(*(words(p) for p in prompts if p.split == "eval"))
    assert not (eval_names & train_people)


def test_benign_answers_are_in_prompt_or_counts(prompts):
    for p in select(prompts, kind="benign", split="eval"):
        assert p.answer and (p.answer in p.prompt or p.answer.isdigit())


def test_over_refusal_labels_follow_hot_keywords(prompts):
    hot = set(hot_keywords("safety", 0.4))
    contrast = select(prompts, kind="contrast", category="safety", split="train")
    for p in contrast:
        expected = REFUSAL_TOKENS["safety"] if p.keyword in hot else RESPOND_TOKEN
        assert training_label(p, over_refusal_fraction=0.4) == expected
    assert 0 < sum(p.keyword in hot for p in contrast) < len(contrast)


def test_select_empty_is_an_error(prompts):
    with pytest.raises(ValueError, match="Empty prompt set"):
        select(prompts, kind="benign", category="safety")


def test_jsonl_roundtrip(tmp_path, prompts):
    path = save_jsonl(prompts[:20], tmp_path / "p.jsonl")
    assert load_jsonl(path) == prompts[:20]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prompt": ""}', "non-empty string field 'prompt'"),
        ('{"prompt": "x", "category": "safty"}', "Unknown category"),
        ('{"prompt": "x", "kind": "evil"}', "unknown kind"),
        ('{"prompt": "x", "split": "test"}', "unknown split"),
        ('{"prompt": "x", "colour": 1}', "unknown fields"),
        ("not json", "not valid JSON"),
    ],
)
def test_jsonl_errors(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ValueError, match=message):
        load_jsonl(path)


def test_jsonl_empty_and_missing(tmp_path):
    (tmp_path / "e.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="Empty prompt set"):
        load_jsonl(tmp_path / "e.jsonl")
    with pytest.raises(ValueError, match="does not exist"):
        load_jsonl(tmp_path / "missing.jsonl")


def test_user_rows_default_kind():
    from mechrefusal.prompts import _prompt_from_row

    assert _prompt_from_row({"prompt": "hi", "category": "Safety"}, where="x") == Prompt(
        prompt="hi", kind="harmful", category="safety"
    )
