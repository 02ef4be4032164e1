"""The routing study's pieces: thresholds for a recall, readers, routed shares per kind."""

import pytest
import torch

from mechrefusal.data.prompts import Prompt
from mechrefusal.steering.routing_study import fit_reader, recall_threshold, routed_harmful


def test_recall_threshold_keeps_the_asked_share_at_or_above_it():
    scores = torch.tensor([0.6, 0.9, 0.7, 0.8])
    assert recall_threshold(scores, 0.75) == pytest.approx(0.7)  # 3 of 4 at or above
    assert recall_threshold(scores, 0.7) == pytest.approx(0.7)  # ceil: never below the share
    assert recall_threshold(scores, 1.0) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="recall"):
        recall_threshold(scores, 0.0)


def _separable(n=60, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3 * n, d, generator=g)
    harmful = torch.arange(3 * n) < n
    contrast = (torch.arange(3 * n) >= n) & (torch.arange(3 * n) < 2 * n)
    x[harmful, 0] += 3.0
    x[contrast, 0] += 1.5  # look-alikes: half way towards harmful
    return x, harmful, contrast


@pytest.mark.parametrize("reader", ["probe", "probe, contrast x3", "condition vector"])
def test_every_reader_scores_harmful_rows_highest(reader):
    x, harmful, contrast = _separable()
    score = fit_reader(reader, x, harmful, contrast)(x)
    assert score[harmful].mean() > score[contrast].mean() > score[~harmful & ~contrast].mean()


def test_hard_negatives_push_contrast_scores_down():
    x, harmful, contrast = _separable()
    plain = fit_reader("probe", x, harmful, contrast)(x)
    hard = fit_reader("probe, contrast x3", x, harmful, contrast)(x)
    assert hard[contrast].mean() < plain[contrast].mean()


def test_an_unknown_reader_is_refused():
    x, harmful, contrast = _separable()
    with pytest.raises(ValueError, match="Unknown reader"):
        fit_reader("oracle", x, harmful, contrast)


def test_routed_shares_per_kind_with_the_over_refused_subset():
    prompts = [
        Prompt(prompt="a", kind="harmful", category="safety"),
        Prompt(prompt="b", kind="harmful", category="safety"),
        Prompt(prompt="c", kind="contrast", category="safety"),
        Prompt(prompt="d", kind="contrast", category="safety"),
        Prompt(prompt="e", kind="contrast", category="safety"),
        Prompt(prompt="f", kind="benign"),
    ]
    scores = torch.tensor([0.9, 0.2, 0.8, 0.1, 0.7, 0.0])
    over_refused = [False, False, True, True, False, False]
    routed = routed_harmful(scores, 0.5, prompts, over_refused)
    assert {k: v["value"] for k, v in routed.items()} == pytest.approx(
        {"harmful": 0.5, "contrast": 2 / 3, "over-refused contrast": 0.5, "benign": 0.0}
    )
    assert routed["over-refused contrast"]["n"] == 2
    assert "over-refused contrast" not in routed_harmful(scores, 0.5, prompts, None)
