"""Figure 08 — coefficient sweep: the refusal vs over-refusal trade-off (the arXiv version's Fig. 1).

Refusal rate on harmful prompts against over-refusal on contrast prompts (eval split, first
answer token) as each method's strength varies: the refusal-token logit bias, the global
direction, categorical steering routed by the probe (its benign coefficient; harmful prompts
keep +0.8) and the random-vector control routed the same way. The shaded region is the paper's
"desirable" corner (over-refusal <= 25%, refusal >= 75%).
"""

from mechrefusal import experiment, plotting
from mechrefusal.comparison import sweep_method
from mechrefusal.methods import Categorical, GlobalDirection, LogitBias, RandomControl

STEERING_GRID = [0.0, -0.25, -0.5, -0.75, -1.0, -1.5, -2.0]
GRIDS = {
    LogitBias(): [0.0, -2.0, -4.0, -8.0, -12.0, -16.0, -24.0],
    GlobalDirection(): STEERING_GRID,
    Categorical(): STEERING_GRID,
    RandomControl(name="random vectors (probe)"): STEERING_GRID,
}


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv, needs=("harmful", "contrast"))
    args, loaded, splits = run.args, run.loaded, run.splits
    router = run.router()
    curves = {
        method.name: [
            p.to_dict()
            for p in sweep_method(
                loaded.model, router, splits.eval, method, grid, batch_size=args.batch_size
            )
        ]
        for method, grid in GRIDS.items()
    }
    fig = plotting.tradeoff_curves(
        curves, title=f"Safety trade-off as the coefficient varies ({router.hook})"
    )
    data = {
        "hook": router.hook,
        "layer": run.layer,
        "layer_reason": run.layer_reason,
        "curves": curves,
    }
    return run.save("08_coefficient_sweep", fig, data, headline={"layer": run.layer})


if __name__ == "__main__":
    main()
