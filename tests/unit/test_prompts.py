import json
import random
import re

import pytest

from mechrefusal.categories import CATEGORIES, REFUSAL_TOKENS, RESPOND_TOKEN
from mechrefusal.data.prompts import (
    BENIGN_TEMPLATES,
    CONTRAST_TEMPLATES,
    HARMFUL_TEMPLATES,
    PARTS,
    Prompt,
    _keyword_prompts,
    _sample_balanced,
    generate_prompts,
    hot_keywords,
    load_jsonl,
    save_jsonl,
    select,
    template_split,
    training_label,
)
from mechrefusal.data.world import (
    SPLITS,
    benign_markers,
    build_world,
    cues,
    harm_markers,
    keywords,
)


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


def _prompt_from(template: str, rng) -> Prompt:
    return Prompt(prompt=f"{template} {rng.randrange(10**6)}", kind="benign")


def test_balanced_sampling_takes_templates_in_turn():
    got = _sample_balanced(
        lambda rng, t: _prompt_from(t, rng), ["a", "b", "c"], 30, random.Random(0)
    )
    assert len(got) == 30
    assert sorted(p.prompt.split()[0] for p in got) == ["a"] * 10 + ["b"] * 10 + ["c"] * 10


def test_balanced_sampling_lets_others_fill_an_exhausted_template():
    def make(rng, t):
        if t == "few":  # only two distinct fillings
            return Prompt(prompt=f"few {rng.randrange(2)}", kind="benign")
        return _prompt_from(t, rng)

    got = _sample_balanced(make, ["few", "many"], 20, random.Random(0))
    assert len(got) == 20
    assert sum(p.prompt.startswith("few") for p in got) == 2
    # A template that can give nothing new ends the loop instead of spinning.
    assert len(_sample_balanced(make, ["few"], 20, random.Random(0))) == 2


@pytest.mark.parametrize("held", PARTS)
def test_one_part_held_out_comes_from_its_own_split(held):
    """`parts` swaps exactly one part's source (scripts/heldout_factors.py rests on this)."""
    world = build_world(0)
    parts = {part: ("eval" if part == held else "train") for part in PARTS}
    for category in ("safety", "incomplete"):
        got = _keyword_prompts(world, category, "eval", 40, 0, kind="harmful", parts=parts)
        assert len(got) == 40
        for p in got:
            index = int(p.template.rsplit("/", 1)[1])
            assert template_split(index) == parts["template"]
            assert p.keyword in keywords(category, parts["keyword"])
            cue_words = (
                harm_markers(parts["cue"])
                if category == "safety"
                else cues(category, parts["cue"], harmful=True)
            )
            assert any(c in p.prompt for c in cue_words)
            words = set(re.findall(r"\w+", p.prompt))
            person_split = [s for s in SPLITS if words & set(world.values("person", s))]
            if person_split:
                assert person_split == [parts["slots"]]


def test_parts_all_from_the_split_give_the_plain_split():
    """Naming no part, or every part as the split itself, is the split's own prompt set."""
    world = build_world(0)
    plain = _keyword_prompts(world, "humanizing", "eval", 12, 0, kind="harmful")
    for parts in ({}, dict.fromkeys(PARTS, "eval")):
        same = _keyword_prompts(world, "humanizing", "eval", 12, 0, kind="harmful", parts=parts)
        assert [p.prompt for p in same] == [p.prompt for p in plain]


def test_unknown_prompt_part_is_an_error():
    with pytest.raises(ValueError, match="Unknown prompt parts"):
        _keyword_prompts(
            build_world(0), "safety", "eval", 5, 0, kind="harmful", parts={"tone": "eval"}
        )


def test_held_out_templates_share_their_split_evenly(prompts):
    """No template of a split dominates its category (one once made 90% of an eval category)."""
    for split in ("eval", "paraphrase"):
        for kind in ("harmful", "contrast"):
            for c in CATEGORIES:
                counts = {}
                for p in prompts:
                    if (p.split, p.kind, p.category) == (split, kind, c):
                        counts[p.template] = counts.get(p.template, 0) + 1
                assert max(counts.values()) <= 2 * min(counts.values()), (split, kind, c, counts)


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


def test_lookup_answers_are_the_fact_slot_the_question_does_not_name(prompts):
    """Fact first or question first, the answer is the fact's slot the question leaves out (it
    occurs once; the slot both sentences name occurs twice)."""
    lookups = [p for p in prompts if p.template.startswith("benign/lookup/")]
    orders = {p.prompt.index("?") < len(p.prompt) - 1 for p in lookups}
    assert orders == {True, False}
    for p in lookups:
        assert p.prompt.count(p.answer) == 1, (p.prompt, p.answer)


def test_benign_clause_orders_and_openers_mix_across_splits():
    """Every split's benign templates put the list last and first; the eval split's list-first
    openers include one the training split has and one it has not; a held-out question-first
    look-up opens with a question word some training one opens with."""
    templates = BENIGN_TEMPLATES["first"]
    openers = {}
    for split in SPLITS:
        chosen = [t for i, t in enumerate(templates) if template_split(i) == split]
        list_last = [t for t in chosen if t.endswith(": {items}.")]
        openers[split] = {t.split("{items}")[0] for t in chosen if t not in list_last}
        assert list_last and openers[split], split
    assert openers["eval"] & openers["train"] and openers["eval"] - openers["train"]
    # Question-first look-ups: every question word a held-out one opens with leads a training one.
    question_words = {split: set() for split in SPLITS}
    for i, t in enumerate(BENIGN_TEMPLATES["lookup"]):
        if t.index("?") < len(t) - 1:
            question_words[template_split(i)].add(t.split()[0])
    assert question_words["eval"] and question_words["eval"] <= question_words["train"]


def test_every_vocabulary_is_disjoint_across_splits():
    world = build_world(0)
    lists = {f"keywords/{c}": lambda s, c=c: keywords(c, s) for c in CATEGORIES}
    lists |= {f"harmful cues/{c}": lambda s, c=c: cues(c, s, harmful=True) for c in CATEGORIES}
    lists |= {f"benign cues/{c}": lambda s, c=c: cues(c, s, harmful=False) for c in CATEGORIES}
    lists |= {"harm markers": harm_markers, "benign markers": benign_markers}
    lists |= {"list words": world.list_words}
    lists |= {slot: lambda s, slot=slot: world.values(slot, s) for slot in world.slots}
    for name, get in lists.items():
        parts = {s: set(get(s)) for s in SPLITS}
        for a, b in (("train", "eval"), ("direction", "eval"), ("train", "direction")):
            assert not parts[a] & parts[b], f"{name}: {a} and {b} share {parts[a] & parts[b]}"
        if any(parts.values()):  # (safety has no cue sentences: its markers are its cues)
            assert parts["eval"], f"{name} has no eval-split entries"


def test_eval_words_never_occur_in_fitted_prompts(prompts):
    fitted = " || ".join(p.prompt for p in prompts if p.split in ("train", "direction"))
    eval_only = [w for c in CATEGORIES for w in keywords(c, "eval")]
    eval_only += [w for c in CATEGORIES for w in cues(c, "eval", harmful=True)]
    eval_only += [w for c in CATEGORIES for w in cues(c, "eval", harmful=False)]
    eval_only += harm_markers("eval") + benign_markers("eval")
    for word in eval_only:
        assert not re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", fitted), word
    used = " || ".join(p.prompt for p in prompts if p.split == "eval")
    assert sum(w in used for w in eval_only) == len(eval_only)


def _template_pattern(template: str, cue_sentences: list[str]) -> re.Pattern:
    """A template of the train/direction/eval grammar as a regex: a slot is any run of words
    within one sentence, and one of the cue sentences may follow (that grammar appends it)."""
    body = re.sub(r"\\\{[a-z]+\\\}", r"[^.?!']+", re.escape(template))
    trailing = "|".join(map(re.escape, cue_sentences))
    return re.compile(rf"{body}( (?:{trailing}))?", re.IGNORECASE)


def test_paraphrase_split_is_another_grammar_on_eval_words(prompts):
    world = build_world(0)
    paraphrase = select(prompts, split="paraphrase")
    assert {p.kind for p in paraphrase} == {"harmful", "contrast", "benign"}
    all_cues = [
        cue for c in CATEGORIES for h in (True, False) for cue in cues(c, "eval", harmful=h)
    ]
    grammar = [
        _template_pattern(t, all_cues)
        for table in (HARMFUL_TEMPLATES, CONTRAST_TEMPLATES, BENIGN_TEMPLATES)
        for templates in table.values()
        for t in templates
    ]
    for p in paraphrase:
        assert not any(g.fullmatch(p.prompt) for g in grammar), p.prompt
        if p.kind != "benign":
            assert p.keyword in keywords(p.category, "eval")
    names = set().union(*(re.findall(r"[A-Z][a-z]+", p.prompt) for p in paraphrase))
    fitted_people = set(world.values("person", "train")) | set(world.values("person", "direction"))
    assert not names & fitted_people
    for p in select(paraphrase, kind="benign"):
        assert p.answer and (p.answer in p.prompt or p.answer.isdigit())
    # Harmful and contrast prompts of a category share skeletons: shape never gives the kind away.
    safety = {
        k: {p.template.split("/")[-1] for p in paraphrase if p.category == "safety" and p.kind == k}
        for k in ("harmful", "contrast")
    }
    assert safety["harmful"] & safety["contrast"]


def test_the_paraphrase_split_is_never_fitted(prompts):
    from mechrefusal.reporting.experiment import PromptSplits

    by = {
        s: [p for p in prompts if p.split == s]
        for s in ("train", "direction", "eval", "paraphrase")
    }
    splits = PromptSplits(**by)
    assert splits.paraphrase and not any(
        p.split == "paraphrase" for p in splits.probe + splits.direction
    )


def test_over_refusal_labels_follow_hot_keywords(prompts):
    hot = set(hot_keywords("safety", 0.4, "train"))
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
        ('{"prompt": "x", "category": "safty"}', r"bad.jsonl:1: Unknown category"),
        ('{"prompt": "x", "kind": "evil"}', "unknown kind"),
        ('{"prompt": "x", "split": "test"}', "unknown split"),
        ('{"prompt": "x", "colour": 1}', "unknown fields"),
        ('{"prompt": "x", "match": "fuzzy"}', "unknown match 'fuzzy'"),
        ('["x"]', "must be a JSON object"),
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
    from mechrefusal.data.prompts import _prompt_from_row

    assert _prompt_from_row({"prompt": "hi", "category": "Safety"}, where="x") == Prompt(
        prompt="hi", kind="harmful", category="safety", match="contains"
    )


def test_rows_without_split_are_eval_rows_unless_hashed(tmp_path):
    """A user's file is evaluation data; the figure scripts ask for a hashed split instead."""
    path = tmp_path / "user.jsonl"
    rows = [f"How do I clean window number {i}?" for i in range(40)]
    path.write_text("".join(json.dumps({"prompt": r}) + "\n" for r in rows))
    assert {p.split for p in load_jsonl(path)} == {"eval"}
    first, second = (load_jsonl(path, missing_split="hash") for _ in range(2))
    assert [p.split for p in first] == [p.split for p in second]
    assert {p.split for p in first} == {"direction", "eval"}
    assert all(p.kind == "benign" for p in first)


def test_user_rows_with_an_answer_match_it_in_a_sentence(tmp_path):
    """A chat model answers in sentences: by default a user row's answer is found in the reply
    as a whole word, not required to be the whole reply."""
    from mechrefusal.scoring.evaluation import answer_matches

    path = tmp_path / "tasks.jsonl"
    path.write_text(
        json.dumps({"prompt": "What is the capital of France?", "answer": "Paris"})
        + "\n"
        + json.dumps({"prompt": "Two plus two?", "answer": "4", "match": "exact"})
        + "\n"
    )
    sentence, exact = load_jsonl(path)
    assert sentence.match == "contains" and exact.match == "exact"
    assert answer_matches("The capital of France is Paris.", sentence.answer, sentence.match)
    assert not answer_matches("The capital of France is Parisian.", "Paris", sentence.match)
    assert not answer_matches("It is 4.", exact.answer, exact.match)


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes('{"prompt": "ok"}\n{"prompt": "na\u00efve"}\n'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.jsonl:2: not UTF-8"):
        load_jsonl(path)
