"""Rows that have stopped leave the decoding batch: the same answers as keeping every row."""

from functools import partial

import torch

from mechrefusal.analysis.interventions import add_vector_hook
from mechrefusal.data.chat import left_pad
from mechrefusal.engine import generation
from mechrefusal.engine.generation import BatchPlan, generate_answers, greedy_generate

PROMPTS = [[5, 9, 12, 7, 50, 51], [5, 9, 12, 60], [5, 9, 70, 71, 72, 73, 74], [5, 80, 81]]
HOOK = "blocks.0.hook_resid_post"
MAX_NEW = 8


def _stops_at_different_steps(model, tokens, mask) -> set[int]:
    """Stop ids that end rows 0 and 2 early, at different steps (found from a free run)."""
    free = greedy_generate(model, tokens, mask, max_new_tokens=MAX_NEW, stop_ids=set())
    return {free.new_tokens[0][1], free.new_tokens[2][4]}


def _rows_kept(*args, **kwargs):
    return greedy_generate(*args, **{**kwargs, "drop_finished": False})


def _check_rows_stop_apart(gen) -> None:
    lengths = sorted(len(t) for t in gen.new_tokens)
    assert lengths[0] < MAX_NEW - 1 and len(set(lengths)) > 1, lengths  # not vacuous


def test_greedy_generation_drops_finished_rows_with_the_same_answers(tiny_model):
    tokens, mask = left_pad(PROMPTS, pad_id=0)
    stops = _stops_at_different_steps(tiny_model, tokens, mask)
    kwargs = dict(max_new_tokens=MAX_NEW, stop_ids=stops)
    kept = greedy_generate(tiny_model, tokens, mask, **kwargs)
    dropped = greedy_generate(tiny_model, tokens, mask, drop_finished=True, **kwargs)
    _check_rows_stop_apart(kept)
    assert dropped.new_tokens == kept.new_tokens
    assert torch.equal(dropped.first_logits, kept.first_logits)


def test_a_per_prompt_push_at_every_step_follows_the_rows_that_remain(tiny_model, monkeypatch):
    """A plan adding one vector per prompt at every generated token (`live_rows`)."""
    texts = ["a b c", "d e", "f g h i j", "k"]
    per_prompt = 3 * torch.randn(len(texts), tiny_model.cfg.d_model)
    seen: list[int] = []

    def count(activation, hook):
        seen.append(activation.shape[0])

    def plan(items, tokens, mask):
        push = partial(add_vector_hook, vectors=per_prompt, positions="last")
        return BatchPlan(hooks=[(HOOK, push), (HOOK, count)], tail=1, live_rows_aware=True)

    def answers():
        gen, _ = generation.generate_planned(
            tiny_model, texts, texts, plan, max_new_tokens=MAX_NEW, fmt="raw", progress=False
        )
        return gen

    monkeypatch.setattr(generation, "stop_token_ids", lambda tokenizer: set())
    free = answers()
    stops = {free.new_tokens[0][1], free.new_tokens[2][3]}
    monkeypatch.setattr(generation, "stop_token_ids", lambda tokenizer: stops)
    dropped = answers()
    calls_dropped = list(seen)
    seen.clear()
    monkeypatch.setattr(generation, "greedy_generate", _rows_kept)
    kept = answers()
    _check_rows_stop_apart(kept)
    assert dropped.new_tokens == kept.new_tokens
    assert min(calls_dropped) < len(texts) == min(seen)  # rows did leave the batch


def test_hooks_attached_outside_a_plan_keep_every_row(tiny_model, monkeypatch):
    """A user's hook may index its own per-prompt tensor: nothing is dropped under it."""
    texts = ["a b c", "d e", "f g h i j", "k"]
    monkeypatch.setattr(generation, "stop_token_ids", lambda tokenizer: set())
    free = generate_answers(tiny_model, texts, max_new_tokens=MAX_NEW, fmt="raw", progress=False)
    monkeypatch.setattr(generation, "stop_token_ids", lambda tokenizer: {free.new_tokens[0][1]})
    per_prompt = torch.randn(len(texts), tiny_model.cfg.d_model)

    def users_hook(activation, hook):
        activation[:, -1] += per_prompt  # one row per prompt, every call
        return activation

    with tiny_model.hooks(fwd_hooks=[(HOOK, users_hook)]):
        gen = generate_answers(tiny_model, texts, max_new_tokens=MAX_NEW, fmt="raw", progress=False)
    assert len(gen.new_tokens) == len(texts)
