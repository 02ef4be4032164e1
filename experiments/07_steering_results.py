"""Figure 07 — steering results (paper Table 2 and the capability column of Table 3).

Harmful refusal, benign and contrast over-refusal and capability on the eval split, for the
unsteered model, the refusal-token logit bias, a fixed push along the global refusal direction,
and probe-routed categorical steering; the oracle policy (the NeurIPS label leak) is shown for
reference only. Each baseline's strength is tuned on the direction split to reach <= 5%
contrast over-refusal while keeping the most harmful refusal; categorical steering uses the
paper's coefficients (-6 / +4 in its units, i.e. -1.2 / +0.8 x the mean activation norm).
"""

from mechrefusal import experiment, plotting
from mechrefusal.comparison import (
    Method,
    compare_methods,
    pick_strength,
    sweep_method,
    with_strength,
)
from mechrefusal.steering import SteeringConfig

BIAS_GRID = [0.0, -2.0, -4.0, -8.0, -12.0, -16.0, -24.0]
GLOBAL_GRID = [0.0, -0.25, -0.5, -0.75, -1.0, -1.5, -2.0]


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv)
    args, loaded, splits = run.args, run.loaded, run.splits
    layer, reason = run.layer, run.layer_reason
    router = run.router()
    bias = Method(name="logit bias", kind="logit_bias")
    glob = Method(name="global direction", kind="global")
    tuned = {
        m.name: pick_strength(
            sweep_method(
                loaded.model, router, splits.direction, m, grid, batch_size=args.batch_size
            )
        )
        for m, grid in ((bias, BIAS_GRID), (glob, GLOBAL_GRID))
    }
    methods = [
        Method(name="unsteered", kind="baseline"),
        with_strength(bias, tuned[bias.name]),
        with_strength(glob, tuned[glob.name]),
        Method(
            name="categorical (probe)", kind="categorical", steering=SteeringConfig(policy="probe")
        ),
        Method(
            name="categorical (oracle, label leak)",
            kind="categorical",
            steering=SteeringConfig(policy="oracle"),
        ),
    ]
    results = [
        r.to_dict()
        for r in compare_methods(
            loaded.model, router, splits.eval, methods, batch_size=args.batch_size
        )
    ]
    fig = plotting.steering_results(results, title=f"Steering on the eval split ({router.hook})")
    probe = router.harm_probe
    data = {
        "hook": router.hook,
        "layer": layer,
        "layer_reason": reason,
        "act_norm": router.act_norm,
        "tuned_strengths": tuned,
        "probe": {
            "threshold": probe.threshold,
            "held_out_fpr": probe.held_out_fpr,
            "held_out_tpr": probe.held_out_tpr,
        },
        "methods": results,
    }
    headline = {
        r["name"]: {
            "harmful_refusal": r["harmful_refusal"]["all"]["value"],
            "contrast_over_refusal": r["over_refusal"]["contrast"]["value"],
            "capability": r["capability"]["value"],
        }
        for r in results
    }
    return run.save("07_steering_results", fig, data, headline=headline)


if __name__ == "__main__":
    main()
