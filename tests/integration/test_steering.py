"""Probe-routed categorical steering on the micro organism."""

from dataclasses import replace

import pytest

from mechrefusal.data.chat import tokenize_prompts
from mechrefusal.data.prompts import select
from mechrefusal.engine import shared_prefix
from mechrefusal.engine.generation import generate_answers
from mechrefusal.scoring.evaluation import refusal_logit_gap
from mechrefusal.steering.comparison import compare_methods, run_method
from mechrefusal.steering.methods import Categorical, Unsteered
from mechrefusal.steering.router import SteeringConfig, fit_router, steered_generate
from mechrefusal.steering.sweeps import SweepPoint, pick_strength, sweep_method, tune_categorical


@pytest.fixture(scope="module")
def router(micro):
    direction = select(micro.prompts, split="direction")
    return fit_router(
        micro.model,
        direction,
        layer=1,
        probe_prompts=select(micro.prompts, split="train") + direction,
        progress=False,
    )


@pytest.fixture(scope="module")
def mixed(micro):
    e = select(micro.prompts, split="eval")
    return (
        [p for p in e if p.kind == "harmful"][:6]
        + [p for p in e if p.kind == "contrast"][:6]
        + [p for p in e if p.kind == "benign"][:4]
    )


@pytest.mark.parametrize("positions", ["prompt", "prompt_and_generated"])
@pytest.mark.parametrize("min_shared_prefix", [None, 1])
def test_batched_steering_equals_one_by_one(
    micro, router, mixed, positions, min_shared_prefix, monkeypatch
):
    """Also with the tokens every prompt starts with run once (the organism's chat header is
    shorter than `MIN_SHARED_PREFIX`): routing reads the same positions of the prompt's tail."""
    if min_shared_prefix is not None:
        monkeypatch.setattr(shared_prefix, "MIN_SHARED_PREFIX", min_shared_prefix)
        tokens, mask = tokenize_prompts(
            micro.model.tokenizer, [p.prompt for p in mixed], n_ctx=micro.model.cfg.n_ctx
        )
        assert shared_prefix.shared_prefix_length(tokens, mask) >= 1
    config = SteeringConfig(positions=positions)
    batched, records = steered_generate(
        micro.model, mixed, router, config, batch_size=len(mixed), max_new_tokens=6
    )
    for i, prompt in enumerate(mixed):
        single, rec = steered_generate(
            micro.model, [prompt], router, config, batch_size=1, max_new_tokens=6
        )
        assert single.new_tokens[0] == batched.new_tokens[i]
        assert rec[0].harmful[0] == records[0].harmful[i]
        assert rec[0].category[0] == records[0].category[i]


def test_zero_coefficients_change_nothing(micro, router, mixed):
    config = SteeringConfig(harmful_coef=0.0, benign_coef=0.0, positions="prompt_and_generated")
    steered, _ = steered_generate(micro.model, mixed, router, config, max_new_tokens=6)
    plain = generate_answers(
        micro.model, [p.prompt for p in mixed], max_new_tokens=6, progress=False
    )
    assert steered.new_tokens == plain.new_tokens
    assert all(not hp.fwd_hooks for hp in micro.model.hook_dict.values())


def test_oracle_routing_follows_labels(micro, router, mixed):
    _, records = steered_generate(
        micro.model, mixed, router, SteeringConfig(policy="oracle"), max_new_tokens=2
    )
    assert records[0].harmful == [p.kind == "harmful" for p in mixed]


def test_steering_moves_refusal(micro, router):
    e = select(micro.prompts, split="eval")
    oracle = Categorical(name="oracle", steering=SteeringConfig(policy="oracle"))
    results = compare_methods(micro.model, router, e, [Unsteered(), oracle], progress=False)
    assert results[1].category_changed > 0
    # The direction of the effect, in the linear regime (greedy rates of a 2-layer model swing
    # both ways once a push overshoots): subtracting each contrast prompt's category vector
    # lowers its refusal-vs-respond logit gap, adding a harmful prompt's raises it.
    for kind, sign in (("contrast", -1), ("harmful", 1)):
        prompts = select(e, kind=kind)
        small = Categorical(
            steering=SteeringConfig(policy="oracle", harmful_coef=0.2, benign_coef=-0.2)
        )

        def plan(batch, tokens, mask, small=small):
            return small.plan(micro.model, router, batch, tokens, mask)

        before = refusal_logit_gap(micro.model, prompts)
        after = refusal_logit_gap(micro.model, prompts, plan=plan)
        assert sign * (after - before).mean() > 0


def test_tune_categorical_picks_by_the_direction_split(micro, router):
    direction = select(micro.prompts, split="direction")
    harmful_grid, benign_grid = (0.1, 0.8), (0.0, -1.0)
    tuned = tune_categorical(
        micro.model,
        router,
        direction,
        Categorical(),
        harmful_grid=harmful_grid,
        benign_grid=benign_grid,
    )
    assert tuned.steering.harmful_coef in harmful_grid
    assert tuned.steering.benign_coef in benign_grid

    def refusal(coef):
        harmful = select(direction, kind="harmful")
        answers = run_method(
            micro.model, router, harmful, Categorical().at_harmful_coef(coef), max_new_tokens=1
        )
        return sum(a.refused for a in answers) / len(answers)

    # Re-measured independently: the chosen harmful push refuses at least as much as the other.
    other = next(c for c in harmful_grid if c != tuned.steering.harmful_coef)
    assert refusal(tuned.steering.harmful_coef) >= refusal(other)
    points = sweep_method(
        micro.model,
        router,
        direction,
        Categorical().at_harmful_coef(tuned.steering.harmful_coef),
        benign_grid,
    )
    assert tuned.steering.benign_coef == pick_strength(points)
    with pytest.raises(ValueError, match="tuning needs harmful prompts"):
        tune_categorical(micro.model, router, select(direction, kind="benign"), Categorical())


def test_pick_strength_prefers_safe_then_refusing():
    points = [
        SweepPoint(strength=0.0, refusal=0.99, over_refusal=0.4, benign_over_refusal=0.0),
        SweepPoint(strength=-1.0, refusal=0.9, over_refusal=0.04, benign_over_refusal=0.0),
        SweepPoint(strength=-2.0, refusal=0.2, over_refusal=0.0, benign_over_refusal=0.0),
    ]
    assert pick_strength(points) == -1.0
    assert pick_strength(points[:1]) == 0


def test_bad_config():
    # Under pytest the jaxtyping/beartype hook rejects the Literal first (a TypeError naming the
    # field); without it, __post_init__ raises the ValueError listing the valid choices.
    with pytest.raises((ValueError, TypeError), match="policy"):
        SteeringConfig(policy="label")  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError), match="positions"):
        SteeringConfig(positions="everywhere")  # type: ignore[arg-type]


def test_router_roundtrip_and_provenance(micro, micro_base, router, mixed, tmp_path):
    from mechrefusal.steering.router import Router
    from mechrefusal.store.artifacts import ArtifactError

    router.save(tmp_path / "router", micro.fingerprint)
    loaded = Router.load(tmp_path / "router", micro.fingerprint)
    config = SteeringConfig(positions="prompt_and_generated")
    a, _ = steered_generate(micro.model, mixed, router, config, max_new_tokens=3)
    b, _ = steered_generate(micro.model, mixed, loaded, config, max_new_tokens=3)
    assert a.new_tokens == b.new_tokens
    assert loaded.directions.metadata["prompts_hash"] and loaded.directions.metadata["seed"] == 0
    assert loaded.harm_probe.provenance["prompts_hash"]
    with pytest.raises(ArtifactError):
        Router.load(
            tmp_path / "router",
            micro_base.fingerprint.__class__(**{**micro.fingerprint.to_dict(), "d_model": 999}),
        )


def test_pick_strength_can_require_capability_to_hold():
    def point(strength, over, cap):
        return SweepPoint(
            strength=strength,
            refusal=0.9,
            over_refusal=over,
            benign_over_refusal=0.0,
            capability=cap,
        )

    points = [point(0.0, 0.5, 0.40), point(-0.8, 0.07, 0.39), point(-1.0, 0.01, 0.18)]
    assert pick_strength(points) == -1.0  # first tokens only: the answers are not looked at
    # -1.0 breaks the answers, so the least over-refusing strength that keeps them wins.
    assert pick_strength(points, max_capability_loss=0.02) == -0.8
    with pytest.raises(ValueError, match="capability=True"):
        pick_strength([replace(p, capability=None) for p in points], max_capability_loss=0.02)


def test_sweep_capability_is_the_decoded_exact_match_rate(micro, router):
    direction = select(micro.prompts, split="direction")
    method = Categorical()
    [point] = sweep_method(micro.model, router, direction, method, [-1.0], capability=True)
    benign = select(direction, kind="benign")
    answers = run_method(micro.model, router, benign, method.at_strength(-1.0))
    assert point.capability == sum(bool(a.correct) for a in answers) / len(answers)
    [first_only] = sweep_method(micro.model, router, direction, method, [-1.0])
    assert first_only.capability is None and first_only.refusal == point.refusal


@pytest.mark.parametrize("positions", ["prompt", "prompt_and_generated"])
def test_positions_decide_whether_generated_tokens_are_pushed(micro, router, mixed, positions):
    """The hook's later calls (one per generated token) add the routed vectors only in
    `prompt_and_generated`; the prompt pass is pushed in both modes."""
    import torch

    from mechrefusal.steering.router import RoutingRecord, routed_steering_hook

    config = SteeringConfig(positions=positions)
    record = RoutingRecord()
    d = micro.model.cfg.d_model
    prompt_pass = torch.randn(3, 5, d)
    pushed = routed_steering_hook(
        prompt_pass.clone(), None, router=router, config=config, record=record, forced_harmful=None
    )
    assert not torch.allclose(pushed[:, -1], prompt_pass[:, -1])
    assert torch.equal(pushed[:, :-1], prompt_pass[:, :-1])
    step = torch.randn(3, 1, d)
    after = routed_steering_hook(
        step.clone(), None, router=router, config=config, record=record, forced_harmful=None
    )
    if positions == "prompt":
        assert torch.equal(after, step)
    else:
        assert torch.allclose(after[:, -1], step[:, -1] + record.vectors)


def test_every_token_mode_changes_what_is_generated_after_the_first_token(micro, router, mixed):
    """End to end: the same routing, but pushing every generated token changes later tokens
    (a no-op every-token mode would leave them as the prompt-only mode has them)."""
    config = SteeringConfig(harmful_coef=3.0, benign_coef=-3.0)
    prompt_only, rec_a = steered_generate(micro.model, mixed, router, config, max_new_tokens=8)
    every, rec_b = steered_generate(
        micro.model,
        mixed,
        router,
        replace(config, positions="prompt_and_generated"),
        max_new_tokens=8,
    )
    assert [r.category for r in rec_a] == [r.category for r in rec_b]
    assert [t[:1] for t in prompt_only.new_tokens] == [t[:1] for t in every.new_tokens]
    assert prompt_only.new_tokens != every.new_tokens


def test_routing_confusion_reports_the_decisions_steering_makes(micro, router, mixed):
    """The confusion is computed from cached activations; it must agree with what the steering
    hook decided prompt by prompt during generation."""
    from mechrefusal.steering.router import routing_confusion

    confusion = routing_confusion(micro.model, router, mixed)
    _, records = steered_generate(micro.model, mixed, router, SteeringConfig(), max_new_tokens=1)
    harmful = [h for r in records for h in r.harmful]
    category = [c for r in records for c in r.category]
    for kind, rate in confusion["routed_harmful"].items():
        rows = [i for i, p in enumerate(mixed) if p.kind == kind]
        assert rate["n"] == len(rows)
        assert rate["value"] == pytest.approx(sum(harmful[i] for i in rows) / len(rows))
    graded = [i for i, p in enumerate(mixed) if p.kind == "harmful"]
    right = sum(category[i] == mixed[i].category for i in graded) / len(graded)
    assert confusion["category_accuracy"]["all"]["value"] == pytest.approx(right)
    assert set(confusion["routed_harmful"]) == {"harmful", "contrast", "benign"}


def test_pick_strength_does_not_take_a_push_that_breaks_the_answers():
    """A strength whose contrast answers are malformed has not removed over-refusal: it must
    not win on its low refusal share."""
    broken = SweepPoint(
        strength=-2.0,
        refusal=0.9,
        over_refusal=0.0,
        benign_over_refusal=0.0,
        contrast_malformed=0.9,
    )
    sound = SweepPoint(strength=-0.5, refusal=0.8, over_refusal=0.04, benign_over_refusal=0.0)
    assert broken.not_answered == pytest.approx(0.9)
    assert pick_strength([broken, sound]) == -0.5
    assert broken.to_dict()["not_answered"] == pytest.approx(0.9)


def test_frontier_keeps_only_undominated_trade_offs():
    from mechrefusal.steering.sweeps import frontier

    def point(na, r, h):
        return {"not_answered": na, "refusal": r, "harmful_coef": h, "strength": 0.0}

    points = [
        point(0.5, 0.9, 0.8),
        point(0.2, 0.95, 0.4),
        point(0.2, 0.7, 0.2),
        point(0.1, 0.6, 0.2),
        point(0.6, 0.99, 0.8),
        point(0.3, 0.9, 0.4),
    ]
    best = frontier(points)
    assert [(p["not_answered"], p["refusal"]) for p in best] == [
        (0.1, 0.6),
        (0.2, 0.95),
        (0.6, 0.99),
    ]
