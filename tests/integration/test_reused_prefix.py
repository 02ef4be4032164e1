"""First-token answers from a reused prefix equal the ordinary forward, plan by plan."""

import pytest
import torch

from mechrefusal.comparison import run_method
from mechrefusal.evaluation import generate_scored
from mechrefusal.generation import _PREFIXES, reused_prefix
from mechrefusal.interventions import ablated_directions
from mechrefusal.methods import Categorical, GlobalDirection, LogitBias, RandomControl
from mechrefusal.prompts import select
from mechrefusal.steering import SteeringConfig, fit_router


@pytest.fixture(scope="module")
def router(micro):
    return fit_router(
        micro.model, select(micro.prompts, split="direction"), layer=0, progress=False
    )


@pytest.fixture(scope="module")
def prompts(micro):
    e = select(micro.prompts, split="eval")
    return [p for p in e if p.kind == "harmful"][:12] + [p for p in e if p.kind == "contrast"][:12]


def _first(model, prompts, plan):
    return generate_scored(model, prompts, plan, batch_size=8, max_new_tokens=1, progress=False)


@pytest.mark.parametrize(
    "method",
    [
        Categorical(),
        Categorical(steering=SteeringConfig(benign_coef=-3.0)),
        Categorical(steering=SteeringConfig(policy="token", benign_coef=-3.0)),
        GlobalDirection(strength=-2.0),
        RandomControl(),
        LogitBias(strength=-4.0),  # no hook: the ordinary path inside the block too
    ],
    ids=lambda m: f"{m.name}@{m.strength}",
)
def test_prefix_path_matches_the_ordinary_forward(micro, router, prompts, method):
    model = micro.model

    def plan(items, tokens, mask):
        return method.plan(model, router, items, tokens, mask)

    ordinary = _first(model, prompts, plan)
    with reused_prefix(model):
        warm = _first(model, prompts, plan)  # fills the memo
        reused = _first(model, prompts, plan)
        assert _PREFIXES[id(model)] or isinstance(method, LogitBias)
    assert id(model) not in _PREFIXES  # closed
    for a, b, c in zip(ordinary, warm, reused, strict=True):
        assert a.first_token == b.first_token == c.first_token and a.refused == c.refused


def test_logits_match_and_an_outer_hook_disables_reuse(micro, router, prompts):
    model = micro.model
    method = Categorical(steering=SteeringConfig(benign_coef=-2.0))
    from mechrefusal.generation import generate_planned

    def logits():
        gen, _ = generate_planned(
            model,
            prompts,
            [p.prompt for p in prompts],
            lambda items, t, m: method.plan(model, router, items, t, m),
            max_new_tokens=1,
            batch_size=8,
            progress=False,
        )
        return gen.first_logits

    ordinary = logits()
    with reused_prefix(model):
        logits()
        assert torch.allclose(logits(), ordinary, atol=1e-4)
        # Under an ablation on every layer, the cached clean prefix would be wrong: not used.
        with ablated_directions(model, router.directions.global_unit()):
            ablated_reused = logits()
    with ablated_directions(model, router.directions.global_unit()):
        ablated = logits()
    assert torch.allclose(ablated_reused, ablated, atol=1e-5)
    assert not torch.allclose(ablated, ordinary, atol=1e-3)


def test_comparisons_reuse_without_changing_results(micro, router, prompts):
    before = [a.first_token for a in run_method(micro.model, router, prompts, Categorical())]
    with reused_prefix(micro.model):
        after = [a.first_token for a in run_method(micro.model, router, prompts, Categorical())]
    assert before == after
