"""Figure 07 — steering results (paper Table 2 and the capability column of Table 3).

Harmful refusal, benign and contrast over-refusal and capability on the eval split for: the
unsteered model; the refusal-token logit bias and a fixed push along the global refusal
direction (each strength tuned on the direction split to reach <= 5% contrast over-refusal
while keeping the most harmful refusal); categorical steering routed by the probe, once adding
the vectors at the prompt pass only and once at every generated token (the paper's mode); the
`token` policy (category from the model's own first token, sign from the harm probe); the
paper's mode with both coefficients tuned on the direction split instead of fixed (the
harmful push with the most harmful refusal, then the benign one as for the baselines); the
prompt-pass-only mode tuned the same way, its benign coefficient chosen among strengths that
keep capability (benign tasks decoded) within 2 points on the direction split; a
random-vector control (same norms, sparsity, coefficients and routing) beside every
probe-routed categorical mode; and the oracle policy (the NeurIPS label
leak), shown for reference only. Categorical coefficients are the paper's (-6 / +4 in its
units, i.e. -1.2 / +0.8 x the mean activation norm). Where the prompt set has a paraphrase
split (eval words on another sentence grammar), the unsteered model and the two probe-routed
categorical modes are measured on it too, with the same router. The JSON also records the
routing confusion: per prompt kind the share the harm probe routes as harmful, and the
category probe's accuracy on harmful prompts (eval and paraphrase splits).
"""

from mechrefusal._entry import run_entry
from mechrefusal.engine.generation import reused_prefix
from mechrefusal.reporting import experiment, plotting
from mechrefusal.steering.comparison import compare_methods, headline_rates
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
from mechrefusal.steering.sweeps import tune_categorical, tune_strengths

TUNED = "categorical (probe, every token, tuned)"
PROMPT_TUNED = "categorical (probe, prompt only, tuned, capability kept)"
PARAPHRASE_METHODS = (
    "unsteered",
    "categorical (probe, prompt only)",
    "categorical (probe, every token: paper)",
    TUNED,
    PROMPT_TUNED,
)


def steering_methods(run: experiment.Run, router) -> tuple[dict[str, float], list]:
    """The methods compared, their strengths tuned on the direction split, and the tuned
    strengths of the two baselines."""
    args, model, direction = run.args, run.loaded.model, run.splits.direction
    tunable = {LogitBias(): BIAS_GRID, GlobalDirection(): STEERING_GRID}
    tuned = tune_strengths(model, router, direction, tunable, batch_size=args.batch_size)
    # Keeping capability needs benign tasks with checkable answers (a user's set may have none).
    answerable = any(p.answer is not None for p in direction)
    tuned_modes = [
        # The same coefficients `mechrefusal eval --steer` and `chat` default to.
        Categorical(
            name=TUNED,
            steering=tuned_steering(
                model, router, direction, args.artifacts, batch_size=args.batch_size
            ),
        ),
        *(
            [
                tune_categorical(
                    model,
                    router,
                    direction,
                    Categorical(name=PROMPT_TUNED, steering=SteeringConfig()),
                    max_capability_loss=0.02,
                    batch_size=args.batch_size,
                )
            ]
            if answerable
            else []
        ),
    ]
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
            RandomControl(name=f"random vectors, {m.name}", steering=m.steering, seed=args.seed)
            for m in tuned_modes
        ),
        Categorical(
            name="categorical (oracle, label leak)",
            steering=SteeringConfig(policy="oracle", positions=PAPER_POSITIONS),
        ),
    ]
    return tuned, methods


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
        tuned, methods = steering_methods(run, router)
        results = measure(splits.eval, methods)
        paraphrase = (
            measure(splits.paraphrase, [m for m in methods if m.name in PARAPHRASE_METHODS])
            if splits.paraphrase
            else None
        )
    fig = plotting.steering_results(
        results, title=f"Steering ({router.hook})", paraphrase=paraphrase
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
        "paraphrase_methods": paraphrase,
        "routing": {
            name: routing_confusion(loaded.model, router, prompts, batch_size=args.batch_size)
            for name, prompts in (("eval", splits.eval), ("paraphrase", splits.paraphrase))
            if prompts
        },
    }
    headline = headline_rates(results)
    headline["routing (eval): routed harmful"] = {
        kind: rate["value"] for kind, rate in data["routing"]["eval"]["routed_harmful"].items()
    }
    if paraphrase:
        headline |= {f"paraphrase: {k}": v for k, v in headline_rates(paraphrase).items()}
    return run.save("07_steering_results", fig, data, headline=headline)


if __name__ == "__main__":
    run_entry(main)
