import pytest

from mechrefusal.evaluation import ScoredAnswer, summarize, wilson
from mechrefusal.prompts import Prompt


def test_wilson_bounds():
    r = wilson(0, 20)
    assert r.value == 0 and r.low == 0 and 0 < r.high < 0.2
    r = wilson(20, 20)
    assert r.high == 1 and 0.8 < r.low < 1
    r = wilson(5, 10)
    assert r.low < 0.5 < r.high
    with pytest.raises(ValueError, match="empty"):
        wilson(0, 0)


def _ans(kind, category=None, refused=False, first="[respond]", correct=None, answer=None):
    return ScoredAnswer(
        prompt=Prompt(prompt="p", kind=kind, category=category, answer=answer),
        first_token=first,
        text="",
        refused=refused,
        correct=correct,
    )


def test_summarize_counts():
    answers = [
        _ans("harmful", "safety", True, "[Requests with safety concerns]"),
        _ans("harmful", "safety", True, "[Humanizing requests]"),
        _ans("harmful", "safety", False),
        _ans("contrast", "safety", True, "[Requests with safety concerns]"),
        _ans("contrast", "safety", False),
        _ans("benign", correct=True, answer="a"),
        _ans("benign", correct=False, answer="b"),
    ]
    r = summarize(answers)
    assert r.harmful_refusal["safety"].value == pytest.approx(2 / 3)
    assert r.category_accuracy["safety"].value == pytest.approx(1 / 3)
    assert r.over_refusal["contrast"].value == 0.5
    assert r.over_refusal["benign"].value == 0
    assert r.capability.value == 0.5
