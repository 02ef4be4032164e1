"""Probe-routed categorical steering on the micro organism."""

from dataclasses import replace

import pytest
import torch

from mechrefusal.data.chat import tokenize_prompts
from mechrefusal.data.prompts import select
from mechrefusal.engine import shared_prefix
from mechrefusal.engine.generation import generate_answers
from mechrefusal.scoring.evaluation import generate_scored, refusal_logit_gap, summarize
from mechrefusal.steering.comparison import compare_methods, refused_share, run_method
from mechrefusal.steering.methods import Categorical, Unsteered
from mechrefusal.steering.router import SteeringConfig, fit_router, steered_generate
from mechrefusal.steering.routing_study import POSITIONS, READERS, routing_study
from mechrefusal.steering.sweeps import (
    GoalPoint,
    SweepPoint,
    goal_grid,
    pick_for_goal,
    pick_strength,
    sweep_method,
    tune_categorical,
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


def test_a_comparison_answers_a_zero_push_as_the_unsteered_model(micro, router, monkeypatch):
    """A baseline tuned to strength 0 is the unsteered model: its row is the unsteered one, and
    nothing is answered again for it (SmolLM2's tuned baselines are 0 on dev)."""
    from mechrefusal.steering import comparison
    from mechrefusal.steering.false_refusal import FalseRefusalAblation, RefusalMeans
    from mechrefusal.steering.methods import GlobalDirection, LogitBias

    prompts = select(micro.prompts, split="eval")[:40]
    runs: list[str] = []
    real = comparison.run_method

    def spy(model, router_, prompts_, method, **kwargs):
        runs.append(method.name)
        return real(model, router_, prompts_, method, **kwargs)

    monkeypatch.setattr(comparison, "run_method", spy)
    d = micro.model.cfg.d_model
    means = RefusalMeans(hook=router.hook, false=torch.ones(d), true=torch.arange(d).float())
    off = FalseRefusalAblation(means=means, strength=0.0, name="ablation off")
    zero = Categorical(name="zero push", steering=SteeringConfig(harmful_coef=0.0, benign_coef=0.0))
    methods = [LogitBias(), GlobalDirection(), off, LogitBias(strength=-4.0), zero]
    rows = compare_methods(micro.model, router, prompts, methods, progress=False)
    # A categorical plan hooks the model even at zero coefficients: it is answered.
    assert runs == ["unsteered", "logit bias", "zero push"]
    unsteered = real(micro.model, router, prompts, Unsteered())
    assert rows[0].result == rows[1].result == rows[2].result == summarize(unsteered)
    assert rows[3].category_changed > 0
    assert not FalseRefusalAblation(means=means).pushes_nothing


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


def test_goal_grid_scores_each_pair_as_a_direct_run_would(micro, router):
    """The grid is built from one run per coefficient (routing does not depend on them); each
    pair's rates equal those of steering directly with that pair, also at thresholds that sit
    exactly on a prompt's own score (the tuned ones: a score read in other batches than the
    run's moves by float rounding and flips that prompt)."""
    from mechrefusal.steering.sweeps import harm_scores, recall_thresholds

    direction = select(micro.prompts, split="direction")
    prompts = [p for k in ("harmful", "contrast", "benign") for p in select(direction, kind=k)[:40]]
    scores = harm_scores(micro.model, router, prompts, Categorical(), max_new_tokens=6)
    thresholds = (None, 0.3, *recall_thresholds(scores, prompts, (0.9, 0.8, 0.7)))
    points = goal_grid(
        micro.model,
        router,
        prompts,
        Categorical(),
        harmful_grid=(0.0, 0.8),
        benign_grid=(0.0, -1.0),
        thresholds=(None, 0.3),
        recalls=(0.9, 0.8, 0.7),  # read off the grid's own unpushed run
        capability=True,
        max_new_tokens=6,
    )
    assert {(p.threshold, p.harmful_coef, p.benign_coef) for p in points} == {
        (t, h, b) for t in thresholds for h in (0.0, 0.8) for b in (0.0, -1.0)
    }
    for point in points:
        steering = SteeringConfig(
            harmful_coef=point.harmful_coef,
            benign_coef=point.benign_coef,
            threshold=point.threshold,
        )
        method = Categorical(steering=steering)
        answers = run_method(micro.model, router, prompts, method, max_new_tokens=6)
        contrast = [a for a in answers if a.prompt.kind == "contrast"]
        checked = [a for a in answers if a.correct is not None]
        assert point.refusal == sum(a.refused for a in answers if a.prompt.kind == "harmful") / len(
            select(prompts, kind="harmful")
        )
        assert point.not_answered == sum(a.refused or a.malformed for a in contrast) / len(contrast)
        assert point.capability == sum(bool(a.correct) for a in checked) / len(checked)


def test_goal_grid_decodes_no_task_that_no_threshold_routes_harmful(micro, router, monkeypatch):
    """Where every decoded task scores below the lowest threshold, the harmful push answers
    the other prompts' first tokens only, and every point is still what a direct run gives."""
    from mechrefusal.steering.sweeps import harm_scores

    direction = select(micro.prompts, split="direction")
    prompts = [p for k in ("harmful", "contrast", "benign") for p in select(direction, kind=k)[:40]]
    scores = harm_scores(micro.model, router, prompts, Categorical(), max_new_tokens=6)
    tasks_top = max(s for s, p in zip(scores, prompts, strict=True) if p.answer is not None)
    above = sorted(s for s in scores if s > tasks_top)
    assert above, "the test needs a prompt scoring above every decoded task"
    decoded: list[int] = []
    real = generate_scored

    def spy(model, items, *args, **kwargs):
        decoded.extend([kwargs["max_new_tokens"]] * any(p.answer is not None for p in items))
        return real(model, items, *args, **kwargs)

    monkeypatch.setattr("mechrefusal.steering.comparison.generate_scored", spy)
    grid = {"harmful_grid": (0.0, 0.8), "benign_grid": (0.0, -1.0)}
    points = goal_grid(
        micro.model,
        router,
        prompts,
        Categorical(),
        thresholds=(above[0],),
        capability=True,
        max_new_tokens=6,
        **grid,
    )
    assert decoded == [6, 6]  # the unpushed run and the benign push; not the harmful push
    for point in points:
        steering = SteeringConfig(
            harmful_coef=point.harmful_coef, benign_coef=point.benign_coef, threshold=above[0]
        )
        answers = run_method(
            micro.model, router, prompts, Categorical(steering=steering), max_new_tokens=6
        )
        checked = [a for a in answers if a.correct is not None]
        assert point.capability == sum(bool(a.correct) for a in checked) / len(checked)
        assert point.refusal == refused_share(answers, "harmful")


def test_harm_scores_are_read_in_the_batches_that_answer(micro, router, monkeypatch):
    """A threshold tuned on a prompt's own score must route it as the run does: the scores
    come from the very batches (and decoding path) `run_method` answers in, since another
    batching moves a score by float rounding (SmolLM2's dev split: one harmful prompt on the
    threshold flipped)."""
    from mechrefusal.engine import generation
    from mechrefusal.steering.sweeps import harm_scores

    direction = select(micro.prompts, split="direction")
    prompts = [p for k in ("harmful", "contrast", "benign") for p in select(direction, kind=k)[:20]]
    batches: list = []
    real = generation.generate_planned

    def spy(model, items, texts, *args, **kwargs):
        batches.append((tuple(texts), kwargs.get("max_new_tokens")))
        return real(model, items, texts, *args, **kwargs)

    for module in ("mechrefusal.scoring.evaluation", "mechrefusal.steering.sweeps"):
        if hasattr(__import__(module, fromlist=["x"]), "generate_planned"):
            monkeypatch.setattr(f"{module}.generate_planned", spy)
    harm_scores(micro.model, router, prompts, Categorical(), max_new_tokens=6)
    scored, batches[:] = list(batches), []
    run_method(micro.model, router, prompts, Categorical(), max_new_tokens=6)
    assert scored == batches


def test_pick_for_goal_is_the_goal_with_its_constraints():
    def point(h, b, refusal, not_answered, capability=0.5):
        return GoalPoint(
            harmful_coef=h,
            benign_coef=b,
            refusal=refusal,
            not_answered=not_answered,
            capability=capability,
        )

    base = point(0.0, 0.0, 0.95, 0.25)
    points = [
        base,
        point(0.4, 0.0, 0.99, 0.30),  # more refusal, more over-refusal: not the goal
        point(0.0, -0.5, 0.93, 0.10),  # within 3 points and keeps capability
        point(0.0, -1.0, 0.80, 0.02),  # fewest unanswered, but harmful refusal -15 points
        point(0.4, -1.0, 0.95, 0.05, capability=0.40),  # breaks capability
    ]
    assert pick_for_goal(points) == points[4]
    assert pick_for_goal(points, max_capability_loss=0.02) == points[2]
    assert pick_for_goal(points, max_refusal_loss=0.2, max_capability_loss=0.02) == points[3]
    assert pick_for_goal(points, max_refusal_loss=0.0, max_capability_loss=0.02) == base
    assert pick_for_goal(points[:2]) == base  # no push helps: none is chosen
    with pytest.raises(ValueError, match="no unsteered point"):
        pick_for_goal(points[1:])
    # Where a point carries its paired interval, "within" is the whole interval, as the goal
    # judges it: -2 points on average whose interval reaches -5 is not shown within 3.
    unsure = replace(points[2], paired_refusal_low=-0.05)
    assert pick_for_goal([base, unsure, points[1]]) == base
    sure = replace(points[2], paired_refusal_low=-0.025, paired_capability_low=-0.03)
    assert pick_for_goal([base, sure]) == sure
    assert pick_for_goal([base, sure], max_capability_loss=0.02) == base


def test_sweep_points_carry_paired_intervals_against_strength_zero(micro, router):
    """Each point's interval is the paired bootstrap of its answers against the unpushed ones."""
    from mechrefusal.scoring.paired import paired_rates
    from mechrefusal.steering.methods import GlobalDirection
    from mechrefusal.steering.sweeps import sweep_answers, sweep_prompts

    direction = select(micro.prompts, split="direction")[::4]
    points = sweep_method(micro.model, router, direction, GlobalDirection(), [-1.0, 0.0])
    assert [p.strength for p in points] == [-1.0, 0.0]
    ordered = sweep_prompts(direction)
    answers = {
        s: sweep_answers(
            micro.model, router, ordered, GlobalDirection().at_strength(s), capability=False
        )
        for s in (0.0, -1.0)
    }
    paired = paired_rates(answers[0.0], answers[-1.0])
    assert points[0].paired_refusal_low == paired["harmful_refusal"].low
    assert points[0].paired_refusal_low < points[0].refusal - points[1].refusal
    assert points[1].paired_refusal_low == 0.0 and points[0].paired_capability_low is None


def test_no_fit_or_choice_is_given_evaluation_rows(micro, router):
    """Directions, probes, coefficients, thresholds and baseline strengths are fit or chosen on
    train, direction or dev rows only: each entry point refuses held-out rows."""
    from mechrefusal.steering.methods import LogitBias
    from mechrefusal.steering.sweeps import tune_strengths

    held_out = select(micro.prompts, split="eval")
    calls = {
        "fit_router": lambda: fit_router(micro.model, held_out, layer=1, progress=False),
        "fit_router probes": lambda: fit_router(
            micro.model,
            select(micro.prompts, split="direction"),
            layer=1,
            probe_prompts=held_out,
            progress=False,
        ),
        "tune_categorical": lambda: tune_categorical(micro.model, router, held_out, Categorical()),
        "goal_grid": lambda: goal_grid(micro.model, router, held_out, Categorical()),
        "tune_strengths": lambda: tune_strengths(
            micro.model, router, held_out, {LogitBias(): (0.0, -4.0)}
        ),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match="eval-split prompts"):
            call()
        assert name


def test_tune_categorical_picks_by_the_direction_split(micro, router):
    """The tuned setting is the goal's pick over the whole grid, thresholds included."""
    from mechrefusal.steering.sweeps import harm_scores, recall_thresholds

    direction = select(micro.prompts, split="direction")
    grids = {"harmful_grid": (0.0, 0.8), "benign_grid": (0.0, -1.0)}
    for tune_threshold in (False, True):
        tuned = tune_categorical(
            micro.model, router, direction, Categorical(), tune_threshold=tune_threshold, **grids
        )
        thresholds = [None]
        if tune_threshold:
            scores = harm_scores(micro.model, router, direction, Categorical())
            thresholds += recall_thresholds(scores, direction)
        points = goal_grid(
            micro.model, router, direction, Categorical(), thresholds=thresholds, **grids
        )
        best = pick_for_goal(points)
        assert (
            tuned.steering.threshold,
            tuned.steering.harmful_coef,
            tuned.steering.benign_coef,
        ) == (best.threshold, best.harmful_coef, best.benign_coef)
    with pytest.raises(ValueError, match="tuning needs harmful and contrast prompts"):
        tune_categorical(micro.model, router, select(direction, kind="benign"), Categorical())
    with pytest.raises(ValueError, match="Both grids need 0"):
        tune_categorical(micro.model, router, direction, Categorical(), harmful_grid=(0.8,))


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


def test_routing_study_measures_the_figures_router_and_refuses_held_out_fits(micro, router):
    direction = select(micro.prompts, split="direction")
    probe = select(micro.prompts, split="train") + direction
    held_out = {"eval": select(micro.prompts, split="eval")}
    result = routing_study(
        micro.model,
        probe,
        direction,
        held_out,
        choice_name="direction",
        steering_layer=1,
        progress=False,
    )
    n = micro.model.cfg.n_layers
    assert len(result["rows"]) == len(READERS) * len(POSITIONS) * n
    # The figures' own router is the one `fit_router` builds for figure 07.
    assert result["figures_router"]["threshold"] == pytest.approx(router.harm_probe.threshold)
    key = lambda r: r["routed"]["direction"]["contrast"]["value"]  # noqa: E731
    assert key(result["chosen"]) == min(key(r) for r in result["rows"])
    for row in result["rows"]:  # every threshold keeps the recall on the choice split
        assert row["routed"]["direction"]["harmful"]["value"] >= result["recall"]
    with pytest.raises(ValueError, match="eval-split prompts"):
        routing_study(micro.model, probe, held_out["eval"], {}, steering_layer=1, progress=False)
