"""Every answering method, batch by batch: per-batch state never leaks (issue: the global
baseline steered only the first batch), strengths keep the rest of a method, policies route
from the model and probes only."""

import pytest
import torch

from mechrefusal.data.prompts import select
from mechrefusal.engine.generation import generate_planned
from mechrefusal.steering.comparison import run_method
from mechrefusal.steering.methods import (
    PAPER_POSITIONS,
    Categorical,
    GlobalDirection,
    LogitBias,
    RandomControl,
    Unsteered,
)
from mechrefusal.steering.router import SteeringConfig, first_token_categories


@pytest.fixture(scope="module")
def mixed(micro):
    e = select(micro.prompts, split="eval")
    return (
        [p for p in e if p.kind == "harmful"][:5]
        + [p for p in e if p.kind == "contrast"][:5]
        + [p for p in e if p.kind == "benign"][:2]
    )


METHODS = [
    Unsteered(),
    LogitBias(strength=-4.0),
    GlobalDirection(strength=-1.0, positions="prompt"),
    GlobalDirection(strength=-1.0, positions=PAPER_POSITIONS),
    Categorical(steering=SteeringConfig()),
    Categorical(steering=SteeringConfig(positions=PAPER_POSITIONS)),
    Categorical(steering=SteeringConfig(policy="token")),
    Categorical(steering=SteeringConfig(policy="oracle")),
    RandomControl(steering=SteeringConfig(positions=PAPER_POSITIONS)),
]


def _generate(micro, router, prompts, method, batch_size):
    return generate_planned(
        micro.model,
        prompts,
        [p.prompt for p in prompts],
        lambda items, tokens, mask: method.plan(micro.model, router, items, tokens, mask),
        batch_size=batch_size,
        max_new_tokens=4,
        progress=False,
    )[0]


@pytest.mark.parametrize("method", METHODS, ids=lambda m: f"{m.kind}-{m.describe()}")
def test_second_batch_is_steered_like_the_first(micro, router, mixed, method):
    # The same prompts twice, one batch each: batch 2 must get exactly what batch 1 got.
    gen = _generate(micro, router, mixed + mixed, method, batch_size=len(mixed))
    n = len(mixed)
    assert gen.new_tokens[:n] == gen.new_tokens[n:]
    torch.testing.assert_close(gen.first_logits[:n], gen.first_logits[n:])
    if not isinstance(method, Unsteered):  # and it is steered at all
        plain = _generate(micro, router, mixed, Unsteered(), batch_size=len(mixed))
        assert not torch.allclose(plain.first_logits, gen.first_logits[n:])


@pytest.mark.parametrize(
    "method",
    [
        Categorical(steering=SteeringConfig(positions=PAPER_POSITIONS, policy="token")),
        GlobalDirection(positions="prompt"),
        RandomControl(steering=SteeringConfig(positions=PAPER_POSITIONS), seed=3),
    ],
)
def test_at_strength_keeps_everything_else(method):
    moved = method.at_strength(-2.5)
    assert moved.strength == -2.5
    described, original = moved.describe(), method.describe()
    described.pop("strength"), original.pop("strength")
    if "steering" in described:
        described["steering"].pop("benign_coef"), original["steering"].pop("benign_coef")
    assert described == original


def test_token_policy_routes_by_model_token_and_probe_sign(micro, router):
    # The whole eval split: the micro organism's probe calls few prompts harmful, so a handful
    # of prompts may hold none and leave the harmful branch untested.
    mixed = select(micro.prompts, split="eval")
    method = Categorical(steering=SteeringConfig(policy="token"))
    gen, plans = generate_planned(
        micro.model,
        mixed,
        [p.prompt for p in mixed],
        lambda items, tokens, mask: method.plan(micro.model, router, items, tokens, mask),
        batch_size=len(mixed),
        max_new_tokens=1,
        progress=False,
    )
    record = plans[0].record
    units = router.directions.unit_vectors(sparse=True)
    coefs = torch.stack(
        [
            record.vectors[i] @ units[router.directions.index(c)] / router.act_norm
            for i, c in enumerate(record.category)
        ]
    )
    # The sign comes from the harm probe, never from the label or from refusing.
    expected = torch.tensor([0.8 if h else -1.2 for h in record.harmful], dtype=coefs.dtype)
    torch.testing.assert_close(coefs, expected, atol=1e-4, rtol=1e-4)
    # The category is the model's own first token wherever it refused.
    own = first_token_categories(micro.model, router, *_tokens(micro, mixed))
    for i, idx in enumerate(own.tolist()):
        if idx >= 0:
            assert record.category[i] == router.directions.categories[idx]
    assert any(record.harmful) and not all(record.harmful)


def _tokens(micro, prompts):
    from mechrefusal.data.chat import tokenize_prompts

    return tokenize_prompts(
        micro.tokenizer, [p.prompt for p in prompts], n_ctx=micro.model.cfg.n_ctx
    )


def test_random_control_has_same_norms_other_directions(micro, router, mixed):
    steering = SteeringConfig(positions=PAPER_POSITIONS)
    real = Categorical(steering=steering).plan(micro.model, router, mixed, *_tokens(micro, mixed))
    rand = RandomControl(steering=steering).plan(micro.model, router, mixed, *_tokens(micro, mixed))
    for plan in (real, rand):
        with micro.model.hooks(fwd_hooks=plan.hooks):
            micro.model(_tokens(micro, mixed)[0], attention_mask=_tokens(micro, mixed)[1])
    torch.testing.assert_close(
        real.record.vectors.norm(dim=-1), rand.record.vectors.norm(dim=-1), atol=1e-4, rtol=1e-4
    )
    cos = torch.nn.functional.cosine_similarity(real.record.vectors, rand.record.vectors, dim=-1)
    assert cos.abs().max() < 0.9
    assert real.record.harmful == rand.record.harmful  # routed the same way


def test_run_method_scores_every_prompt(micro, router, mixed):
    answers = run_method(micro.model, router, mixed, LogitBias(strength=-30.0), batch_size=5)
    assert len(answers) == len(mixed) and not any(a.refused for a in answers)
