"""A harm reader at its own layer (the routing study's choice) routing categorical steering,
and the steering layer chosen on the choice split by the goal (micro organism)."""

from dataclasses import replace

import pytest
import torch

from mechrefusal.analysis.activations import cache_activations
from mechrefusal.data.prompts import select
from mechrefusal.engine.generation import reused_prefix
from mechrefusal.engine.hooks import hook_name
from mechrefusal.steering.layer_choice import (
    HarmReader,
    candidate_layers,
    choose_steering_layer,
    pick_layer,
)
from mechrefusal.steering.methods import Categorical, RandomControl
from mechrefusal.steering.router import (
    Router,
    SteeringConfig,
    fit_router,
    routing_confusion,
    steered_generate,
)
from mechrefusal.steering.routing_study import reader_probe, routing_study
from mechrefusal.steering.sweeps import GoalPoint, tuned_categorical


@pytest.fixture(scope="module")
def splits(micro):
    direction = select(micro.prompts, split="direction")
    evaluation = select(micro.prompts, split="eval")
    return {
        "direction": direction,
        "probe": select(micro.prompts, split="train") + direction,
        "mixed": [p for p in evaluation if p.kind == "harmful"][:6]
        + [p for p in evaluation if p.kind == "contrast"][:6]
        + [p for p in evaluation if p.kind == "benign"][:4],
    }


@pytest.fixture(scope="module")
def study(micro, splits):
    return routing_study(
        micro.model,
        splits["probe"],
        splits["direction"],
        {},
        choice_name="direction",
        steering_layer=1,
        progress=False,
    )


def _unsteered_scores(model, probe, layer, position, prompts):
    hook = hook_name("resid_post", layer)
    acts = cache_activations(
        model, [p.prompt for p in prompts], [hook], position=position, progress=False
    )[hook]
    return probe.p_harmful(acts)


@pytest.mark.parametrize(("steer_layer", "reader_layer"), [(1, 0), (0, 1)])
def test_a_reader_at_another_layer_reads_the_unsteered_residual(
    micro, router, splits, steer_layer, reader_layer
):
    """Below or above the steering layer, with a push large enough to change the residual
    above it, the routing scores are the probe's on the unsteered residual at the reader's
    layer and position, in and outside the reused-prefix memo."""
    probe = router.harm_probe
    if steer_layer != router.directions.layer:
        router = fit_router(
            micro.model,
            splits["direction"],
            layer=steer_layer,
            probe_prompts=splits["probe"],
            progress=False,
        )
    mine = router.with_harm_reader(probe, layer=reader_layer, position="last")
    assert mine.harm_hook == hook_name("resid_post", reader_layer) != mine.hook
    expected = _unsteered_scores(micro.model, probe, reader_layer, "last", splits["mixed"])
    config = SteeringConfig(harmful_coef=3.0, benign_coef=-3.0, positions="prompt")
    for memo in (False, True):
        if memo:
            with reused_prefix(micro.model):
                _, records = steered_generate(
                    micro.model, splits["mixed"], mine, config, max_new_tokens=1
                )
        else:
            _, records = steered_generate(
                micro.model, splits["mixed"], mine, config, max_new_tokens=4
            )
        scores = torch.tensor([s for r in records for s in r.harm_score])
        torch.testing.assert_close(scores, expected, atol=1e-5, rtol=1e-4)
    # The confusion table reads the same place.
    confusion = routing_confusion(micro.model, mine, splits["mixed"], threshold=0.5)
    harmful = [p for p in splits["mixed"] if p.kind == "harmful"]
    routed = expected[: len(harmful)] >= 0.5
    assert confusion["routed_harmful"]["harmful"]["value"] == pytest.approx(
        routed.float().mean().item()
    )


def test_the_reader_layer_survives_save_and_load(micro, router, splits, tmp_path):
    mine = router.with_harm_reader(router.harm_probe, layer=0, position="last")
    loaded = Router.load(mine.save(tmp_path / "r", micro.fingerprint), micro.fingerprint)
    assert (loaded.harm_layer, loaded.probe_position) == (0, "last")
    config = SteeringConfig()
    a = steered_generate(micro.model, splits["mixed"], mine, config, max_new_tokens=1)[1]
    b = steered_generate(micro.model, splits["mixed"], loaded, config, max_new_tokens=1)[1]
    assert [r.harm_score for r in a] == [r.harm_score for r in b]
    with pytest.raises(ValueError, match="one position"):
        router.with_harm_reader(router.harm_probe, layer=0, position="mean")


def test_reader_probe_is_the_study_rows_reader_with_its_threshold(micro, splits, study):
    row = study["steerable"]
    assert row["reader"] != "condition vector"
    probe = reader_probe(micro.model, splits["probe"], study)
    assert probe.threshold == row["threshold"]
    scores = _unsteered_scores(
        micro.model, probe, row["layer"], row["position"], splits["direction"]
    )
    harmful = [i for i, p in enumerate(splits["direction"]) if p.kind == "harmful"]
    contrast = [i for i, p in enumerate(splits["direction"]) if p.kind == "contrast"]
    routed = row["routed"]["direction"]
    assert (scores[harmful] >= probe.threshold).float().mean().item() == pytest.approx(
        routed["harmful"]["value"]
    )
    assert (scores[contrast] >= probe.threshold).float().mean().item() == pytest.approx(
        routed["contrast"]["value"]
    )
    with pytest.raises(ValueError, match="eval-split prompts"):
        reader_probe(micro.model, select(micro.prompts, split="eval"), study)


def test_candidate_layers_include_mid_depth_and_the_last():
    assert candidate_layers(30) == [9, 14, 20, 29]
    assert candidate_layers(4) == [1, 2, 3]
    with pytest.raises(ValueError):
        candidate_layers(0)


def test_pick_layer_is_the_goal_with_its_tie_breaks():
    def point(na, refusal, b):
        return GoalPoint(
            harmful_coef=0.0, benign_coef=b, refusal=refusal, not_answered=na, capability=None
        )

    assert (
        pick_layer({9: point(0.3, 0.9, -0.5), 14: point(0.2, 0.9, -1.0), 29: point(0.4, 0.95, 0.0)})
        == 14
    )
    assert pick_layer({9: point(0.2, 0.9, -0.5), 14: point(0.2, 0.95, -1.0)}) == 14
    assert pick_layer({9: point(0.2, 0.9, -1.0), 14: point(0.2, 0.9, -0.5)}) == 14
    assert pick_layer({14: point(0.2, 0.9, -0.5), 9: point(0.2, 0.9, -0.5)}) == 9
    with pytest.raises(ValueError):
        pick_layer({})


def test_the_chosen_layer_is_the_goals_best_tuned_layer(micro, router, splits):
    reader = HarmReader(probe=router.harm_probe, layer=1, position="prompt_end")
    grids = {"harmful_grid": (0.0, 0.8), "benign_grid": (0.0, -1.0)}
    tuning = splits["direction"][::3]  # a smaller choice split keeps the test fast
    choice = choose_steering_layer(
        micro.model,
        splits["direction"],
        splits["probe"],
        tuning,
        reader,
        Categorical(name="mine"),
        layers=[0, 1],
        **grids,
    )
    assert [o["layer"] for o in choice.outcomes] == [0, 1]
    points = {
        o["layer"]: GoalPoint(**{k: v for k, v in o.items() if k not in ("layer", "hook")})
        for o in choice.outcomes
    }
    assert choice.layer == pick_layer(points)
    own = choice.method.own_router
    assert own.hook == hook_name("resid_post", choice.layer) and own.harm_layer == 1
    # Each layer's outcome is that layer's own tuning, re-done here for the chosen one.
    _, point, unsteered = tuned_categorical(
        micro.model,
        own,
        tuning,
        replace(Categorical(name="mine"), own_router=own),
        **grids,
    )
    chosen = next(o for o in choice.outcomes if o["layer"] == choice.layer)
    assert (point.harmful_coef, point.benign_coef, point.threshold) == (
        chosen["harmful_coef"],
        chosen["benign_coef"],
        chosen["threshold"],
    )
    assert choice.method.steering.harmful_coef == point.harmful_coef
    for o in choice.outcomes:  # every layer's point keeps harmful refusal within 3 points
        assert o["refusal"] >= unsteered.refusal - 0.03 - 1e-9
    # The random control beside it steers with the same router's random vectors.
    control = RandomControl(steering=choice.method.steering, own_router=own)
    assert control.router_for(router).hook == own.hook
    assert control.describe()["router"]["harm_hook"] == hook_name("resid_post", 1)
    with pytest.raises(ValueError, match="eval-split prompts"):
        choose_steering_layer(
            micro.model,
            splits["direction"],
            splits["probe"],
            select(micro.prompts, split="eval"),
            reader,
            Categorical(),
            layers=[0],
        )
