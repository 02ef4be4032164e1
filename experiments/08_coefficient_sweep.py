"""Figure 08 — coefficient sweep: the refusal vs over-refusal trade-off (the arXiv version's Fig. 1).

Refusal rate on harmful prompts against over-refusal on contrast prompts (eval split, first
answer token) as each method's strength varies: the refusal-token logit bias, the global
direction, and categorical steering (its benign coefficient; harmful prompts keep +0.8). The
shaded region is the paper's "desirable" corner (over-refusal <= 25%, refusal >= 75%).
"""

from mechrefusal import experiment, plotting
from mechrefusal.comparison import Method, sweep_method

GRIDS = {
    "logit bias": ("logit_bias", [0.0, -2.0, -4.0, -8.0, -12.0, -16.0, -24.0]),
    "global direction": ("global", [0.0, -0.25, -0.5, -0.75, -1.0, -1.5, -2.0]),
    "categorical (probe)": ("categorical", [0.0, -0.25, -0.5, -0.75, -1.0, -1.5, -2.0]),
}


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv)
    args, loaded, splits = run.args, run.loaded, run.splits
    layer, reason = run.layer, run.layer_reason
    router = run.router()
    curves = {
        name: [
            p.to_dict()
            for p in sweep_method(
                loaded.model,
                router,
                splits.eval,
                Method(name=name, kind=kind),
                grid,
                batch_size=args.batch_size,
            )
        ]
        for name, (kind, grid) in GRIDS.items()
    }
    fig = plotting.tradeoff_curves(
        curves, title=f"Safety trade-off as the coefficient varies ({router.hook})"
    )
    data = {"hook": router.hook, "layer": layer, "layer_reason": reason, "curves": curves}
    return run.save("08_coefficient_sweep", fig, data, headline={"layer": layer})


if __name__ == "__main__":
    main()
