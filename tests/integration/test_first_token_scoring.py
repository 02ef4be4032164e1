"""Refusal scored from the first answer token: the same verdicts as full generation, fewer steps."""

import torch

from mechrefusal.data.prompts import Prompt, select
from mechrefusal.engine.generation import generate_answers
from mechrefusal.scoring.evaluation import generate_scored, refusal_logit_gap, score_generation


def test_first_token_scoring_matches_full_generation(micro):
    prompts = select(micro.prompts, split="eval")[::7][:60]
    assert any(p.answer for p in prompts) and any(p.answer is None for p in prompts)
    fast = generate_scored(micro.model, prompts, batch_size=16, progress=False)
    full = score_generation(
        micro.tokenizer,
        prompts,
        generate_answers(micro.model, [p.prompt for p in prompts], batch_size=16, progress=False),
    )
    assert [a.prompt for a in fast] == list(prompts)
    assert [(a.refused, a.first_token, a.correct) for a in fast] == [
        (a.refused, a.first_token, a.correct) for a in full
    ]
    # Only prompts with a checked answer were decoded beyond the first token.
    assert all(a.text == "" for a in fast if a.prompt.answer is None)
    assert [a.text for a in fast if a.prompt.answer] == [a.text for a in full if a.prompt.answer]


def test_models_without_refusal_tokens_decode_every_prompt(tiny_model, monkeypatch):
    monkeypatch.setattr(
        "mechrefusal.scoring.evaluation.has_refusal_tokens", lambda tokenizer: False
    )
    prompts = [Prompt(prompt="Tell me a story.", kind="benign", split="eval")]
    (answer,) = generate_scored(tiny_model, prompts, max_new_tokens=4, progress=False)
    full = generate_answers(tiny_model, ["Tell me a story."], max_new_tokens=4, progress=False)
    assert (
        answer.text
        == tiny_model.tokenizer.decode(full.new_tokens[0], skip_special_tokens=True).strip()
    )


def test_logit_gaps_come_back_in_prompt_order(micro):
    """Batches are cut from the length order; each gap must still land on its own prompt."""
    prompts = select(micro.prompts, split="eval")[::37][:12]
    lengths = [len(p.prompt) for p in prompts]
    assert lengths != sorted(lengths)
    batched = refusal_logit_gap(micro.model, prompts, batch_size=4)
    alone = torch.cat([refusal_logit_gap(micro.model, [p], batch_size=1) for p in prompts])
    torch.testing.assert_close(batched, alone, atol=1e-4, rtol=1e-4)
