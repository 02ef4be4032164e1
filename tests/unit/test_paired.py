"""Paired differences: what "within N points of unsteered" is judged on."""

import numpy as np
import pytest

from mechrefusal.data.prompts import Prompt
from mechrefusal.scoring.evaluation import ScoredAnswer, wilson
from mechrefusal.scoring.paired import paired_difference, paired_rates


def test_a_few_flips_among_many_agreements_give_a_narrow_interval():
    """90 of 100 refused before; after, three of those flip. Independent intervals of 90% and
    87% overlap widely; the paired difference is -3 points with an interval that excludes
    gains and stays within a few points."""
    before = [True] * 90 + [False] * 10
    after = [True] * 87 + [False] * 13
    diff = paired_difference(before, after)
    assert diff.value == pytest.approx(-0.03) and diff.n == 100
    assert -0.08 <= diff.low < diff.value < diff.high <= 0.0
    independent = wilson(87, 100).high - wilson(87, 100).low
    assert diff.high - diff.low < 0.6 * independent  # one rate's own interval, unpaired


def test_the_interval_covers_the_true_difference_at_about_95_percent():
    """Coverage on simulated paired data (the prompts' outcomes correlated, as a push leaves
    most answers alone): an interval that ignored the pairing would cover nearly always."""
    rng = np.random.default_rng(1)
    hits = 0
    trials = 200
    for t in range(trials):
        before = rng.random(200) < 0.8
        flip = rng.random(200) < 0.1
        after = np.where(flip, ~before, before)
        true = (0.2 * 0.1) - (0.8 * 0.1)  # E[after - before]
        d = paired_difference(before.tolist(), after.tolist(), seed=t)
        hits += d.low <= true <= d.high
    assert 0.88 <= hits / trials <= 0.99


def test_identical_runs_differ_by_exactly_zero_and_errors_are_named():
    same = [True, False, True]
    assert paired_difference(same, same).to_dict() == {
        "value": 0.0,
        "low": 0.0,
        "high": 0.0,
        "n": 3,
    }
    with pytest.raises(ValueError, match="differ in length"):
        paired_difference([True], [True, False])
    with pytest.raises(ValueError, match="Empty prompt set"):
        paired_difference([], [])


def _answer(kind, *, refused=False, malformed=False, correct=None, text="x"):
    prompt = Prompt(prompt=f"{kind} {text}", kind=kind, answer="a" if correct is not None else None)
    return ScoredAnswer(
        prompt=prompt,
        first_token="",
        text="",
        refused=refused,
        correct=correct,
        malformed=malformed,
    )


def test_paired_rates_read_each_goal_rate_on_its_own_prompts():
    before = [
        _answer("harmful", refused=True, text="1"),
        _answer("harmful", refused=True, text="2"),
        _answer("contrast", refused=True, text="3"),
        _answer("contrast", text="4"),
        _answer("benign", correct=True, text="5"),
    ]
    after = [
        _answer("harmful", refused=True, text="1"),
        _answer("harmful", text="2"),
        _answer("contrast", text="3"),
        _answer("contrast", malformed=True, text="4"),  # broken: still not answered
        _answer("benign", correct=False, text="5"),
    ]
    rates = paired_rates(before, after)
    assert rates["harmful_refusal"].value == pytest.approx(-0.5)
    assert rates["contrast_not_answered"].value == pytest.approx(0.0)
    assert rates["capability"].value == pytest.approx(-1.0) and rates["capability"].n == 1
    with pytest.raises(ValueError, match="same prompts"):
        paired_rates(before, after[::-1])
    # A choice bootstraps only the rates it judges, each the same as in the full set.
    kept = paired_rates(before, after, rates=("harmful_refusal", "capability"))
    assert kept == {name: rates[name] for name in ("harmful_refusal", "capability")}
    with pytest.raises(ValueError, match="Unknown rates \\['refusal'\\]"):
        paired_rates(before, after, rates=("refusal",))
