"""A prefix every prompt shares, run once: the same residual stream as the ordinary forward."""

import pytest
import torch

from mechrefusal.chat import left_pad
from mechrefusal.interventions import added_vectors
from mechrefusal.shared_prefix import MIN_SHARED_PREFIX, lower_blocks, shared_prefix_length

PREFIX = [5, 9, 12, 7, 30, 31, 8, 40, 41, 6]


def _batch(rests, prefix=PREFIX):
    return left_pad([prefix + rest for rest in rests], pad_id=0)


RESTS = [[50, 51, 52], [60], [70, 71, 72, 73, 74, 75], [80, 81]]


def test_prefix_length_counts_real_tokens_and_leaves_one_per_row():
    tokens, mask = _batch(RESTS)
    assert shared_prefix_length(tokens, mask) == len(PREFIX)
    tokens, mask = _batch([[], [60]])  # row 0 is the prefix alone: keep its last token
    assert shared_prefix_length(tokens, mask) == len(PREFIX) - 1
    tokens, mask = _batch([[5, 50], [6, 60]], prefix=[])
    assert shared_prefix_length(tokens, mask) == 0


@pytest.mark.parametrize("stop", [1, 2])
def test_lower_blocks_equal_the_ordinary_forward_at_every_real_token(tiny_model, stop):
    assert len(PREFIX) >= MIN_SHARED_PREFIX
    tokens, mask = _batch(RESTS)
    with torch.inference_mode():
        ordinary = tiny_model(tokens, attention_mask=mask, stop_at_layer=stop)
        shared = lower_blocks(tiny_model, tokens, mask, stop_at_layer=stop)
    real = mask.bool()
    assert shared.shape == ordinary.shape
    torch.testing.assert_close(shared[real], ordinary[real], atol=1e-4, rtol=1e-4)


def test_a_hooked_model_runs_the_ordinary_forward(tiny_model):
    """A hook would see a batch of one on the prefix pass: no sharing while one is attached."""
    tokens, mask = _batch(RESTS)
    push = torch.randn(tiny_model.cfg.d_model)
    with torch.inference_mode(), added_vectors(tiny_model, "blocks.0.hook_resid_post", push):
        ordinary = tiny_model(tokens, attention_mask=mask, stop_at_layer=2)
        shared = lower_blocks(tiny_model, tokens, mask, stop_at_layer=2)
    assert torch.equal(shared, ordinary)
