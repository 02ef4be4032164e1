import pytest

from mechrefusal.data.prompts import Prompt
from mechrefusal.scoring.evaluation import ScoredAnswer, summarize, wilson


def test_wilson_bounds():
    r = wilson(0, 20)
    assert r.value == 0 and r.low == 0 and 0 < r.high < 0.2
    r = wilson(20, 20)
    assert r.high == 1 and 0.8 < r.low < 1
    r = wilson(5, 10)
    assert r.low < 0.5 < r.high
    with pytest.raises(ValueError, match="empty"):
        wilson(0, 0)


def test_wilson_interval_always_holds_its_rate():
    # Rounding once put the high bound of 30/30 below 1: a negative error bar, a crashed figure.
    for n in range(1, 120):
        for k in range(n + 1):
            r = wilson(k, n)
            assert 0.0 <= r.low <= r.value <= r.high <= 1.0, (k, n)


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


def test_error_bars_never_go_negative():
    # A percentile bootstrap interval need not contain its estimate (figure 06's cosines).
    import numpy as np

    from mechrefusal.reporting.plotting import _bar_errors

    bars = _bar_errors(np.array([0.5, 0.2]), np.array([0.4, 0.25]), np.array([0.6, 0.3]))
    np.testing.assert_allclose(bars, [[0.1, 0.0], [0.1, 0.1]])


def test_degenerate_repetition_is_detected():
    from mechrefusal.scoring.evaluation import degenerate

    assert degenerate("answer a a a a")
    assert degenerate("the the the the end")
    assert not degenerate("a b a b a b")
    assert not degenerate("Paris is the capital of France.")
    assert not degenerate("a a a")


def test_malformed_first_tokens_are_counted_apart_from_compliance(micro):
    """On a refusal-token model a first token that is neither a category token nor [respond]
    is malformed: not refused, not compliant, counted in `malformed`."""
    import torch

    from mechrefusal.categories import token_ids
    from mechrefusal.data.prompts import Prompt
    from mechrefusal.engine.generation import Generation
    from mechrefusal.scoring.evaluation import score_generation, summarize

    tok = micro.tokenizer
    ids = token_ids(tok)
    other = tok.encode(" the", add_special_tokens=False)[0]
    prompts = [Prompt(prompt=f"p{i}", kind="contrast", category="safety") for i in range(3)]
    gen = Generation(
        new_tokens=[[ids["safety"]], [ids["respond"]], [other]],
        first_logits=torch.zeros(3, micro.model.cfg.d_vocab),
    )
    answers = score_generation(tok, prompts, gen)
    assert [a.malformed for a in answers] == [False, False, True]
    assert [a.refused for a in answers] == [True, False, False]
    result = summarize(answers)
    assert result.malformed["contrast"].value == pytest.approx(1 / 3)
    assert result.over_refusal["contrast"].value == pytest.approx(1 / 3)
    assert result.to_dict()["malformed"]["contrast"]["n"] == 3
    # Not answered: the refusal and the malformed answer, never the [respond] one.
    assert result.not_answered["contrast"].value == pytest.approx(2 / 3)
