"""A prefix every prompt shares, run once: the same residual stream as the ordinary forward."""

import pytest
import torch

from mechrefusal.analysis.interventions import ablated_directions, added_vectors
from mechrefusal.data.chat import left_pad
from mechrefusal.engine.generation import greedy_generate
from mechrefusal.engine.shared_prefix import (
    MIN_SHARED_PREFIX,
    lower_blocks,
    positionwise_hooks,
    run_with_cache,
    shared_prefix_length,
)
from mechrefusal.steering.methods import push_plan

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


def test_prefix_length_leaves_each_row_the_tokens_asked_for():
    tokens, mask = _batch(RESTS)  # the shortest rest is one token
    assert shared_prefix_length(tokens, mask, keep=3) == len(PREFIX) - 2


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


SITES = ["blocks.0.hook_resid_post", "blocks.1.hook_attn_out", "blocks.1.hook_mlp_out"]


def test_run_with_cache_equals_the_ordinary_cache_at_every_real_token(tiny_model):
    tokens, mask = _batch(RESTS)
    with torch.inference_mode():
        _, ordinary = tiny_model.run_with_cache(tokens, attention_mask=mask, names_filter=SITES)
        shared = run_with_cache(tiny_model, tokens, mask, SITES, stop_at_layer=None)
    real = mask.bool()
    for name in SITES:
        assert shared[name].shape == ordinary[name].shape
        torch.testing.assert_close(shared[name][real], ordinary[name][real], atol=1e-4, rtol=1e-4)


def test_run_with_cache_does_not_share_for_hooks_that_are_not_per_token(tiny_model):
    """An attention pattern is [batch head query key]: a prefix pass cannot be re-assembled."""
    tokens, mask = _batch(RESTS)
    names = ["blocks.0.attn.hook_pattern", "blocks.0.hook_resid_post"]
    with torch.inference_mode():
        _, ordinary = tiny_model.run_with_cache(tokens, attention_mask=mask, names_filter=names)
        shared = run_with_cache(tiny_model, tokens, mask, names, stop_at_layer=None)
    for name in names:
        assert torch.equal(shared[name], ordinary[name])


def _count_batches(calls):
    def hook(activation, hook):
        calls.append(activation.shape[0])

    return hook


def _one_row_at_a_time(model, tokens, mask, **kwargs):
    """Reference generations with nothing shared (a batch of one never shares)."""
    rows = [
        greedy_generate(model, tokens[i : i + 1], mask[i : i + 1], **kwargs)
        for i in range(len(tokens))
    ]
    return [g.new_tokens[0] for g in rows], torch.cat([g.first_logits for g in rows])


def test_generation_from_a_shared_prefix_equals_generation_row_by_row(tiny_model):
    tokens, mask = _batch(RESTS)
    kwargs = dict(max_new_tokens=6, stop_ids=set())
    expected, first = _one_row_at_a_time(tiny_model, tokens, mask, **kwargs)
    batched = greedy_generate(tiny_model, tokens, mask, **kwargs)
    assert batched.new_tokens == expected
    torch.testing.assert_close(batched.first_logits, first, atol=1e-4, rtol=1e-4)


def test_positionwise_hooks_still_share_and_give_the_hooked_forward(tiny_model):
    """A directional ablation acts on each token alone: the prefix runs once under it (a batch
    of one, then the batch), with the same result as the ordinary forward under the same hooks."""
    tokens, mask = _batch(RESTS)
    direction = torch.randn(tiny_model.cfg.d_model)
    calls = []
    counter = [("blocks.0.hook_resid_pre", _count_batches(calls))]
    with torch.inference_mode(), ablated_directions(tiny_model, direction):
        ordinary = tiny_model(tokens, attention_mask=mask, stop_at_layer=2)
        with positionwise_hooks(tiny_model, counter):
            shared = lower_blocks(tiny_model, tokens, mask, stop_at_layer=2)
        kwargs = dict(max_new_tokens=4, stop_ids=set())
        expected, _ = _one_row_at_a_time(tiny_model, tokens, mask, **kwargs)
        assert greedy_generate(tiny_model, tokens, mask, **kwargs).new_tokens == expected
    real = mask.bool()
    torch.testing.assert_close(shared[real], ordinary[real], atol=1e-4, rtol=1e-4)
    assert calls == [1, len(RESTS)]


def test_an_undeclared_hook_beside_positionwise_ones_stops_sharing(tiny_model):
    tokens, mask = _batch(RESTS)
    calls = []
    with (
        torch.inference_mode(),
        ablated_directions(tiny_model, torch.randn(tiny_model.cfg.d_model)),
        tiny_model.hooks(fwd_hooks=[("blocks.0.hook_resid_pre", _count_batches(calls))]),
    ):
        lower_blocks(tiny_model, tokens, mask, stop_at_layer=2)
    assert calls == [len(RESTS)]  # one ordinary pass over the whole batch, no batch-1 prefix pass


def test_steering_at_the_last_token_shares_the_prefix_and_equals_row_by_row(tiny_model):
    """A push at the last position of every forward (the paper's steering) touches only the
    tail: the prefix pass runs without it, and every answer is the unshared one."""
    tokens, mask = _batch(RESTS)
    plan = push_plan(
        "blocks.0.hook_resid_post", 3 * torch.randn(tiny_model.cfg.d_model), "prompt_and_generated"
    )
    assert plan.tail == 1
    calls = []
    counter = [("blocks.0.hook_resid_pre", _count_batches(calls))]
    kwargs = dict(max_new_tokens=5, stop_ids=set())
    with torch.inference_mode(), tiny_model.hooks(fwd_hooks=plan.hooks):
        expected, first = _one_row_at_a_time(tiny_model, tokens, mask, **kwargs)
    with torch.inference_mode(), plan.attached(tiny_model), positionwise_hooks(tiny_model, counter):
        batched = greedy_generate(tiny_model, tokens, mask, **kwargs)
    assert batched.new_tokens == expected
    torch.testing.assert_close(batched.first_logits, first, atol=1e-4, rtol=1e-4)
    assert calls[:2] == [1, len(RESTS)]  # the prefix ran once, then each row's rest
