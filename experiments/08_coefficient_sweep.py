"""Figure 08 — coefficient sweep: the refusal vs over-refusal trade-off (the arXiv version's Fig. 1).

Refusal rate on harmful prompts against over-refusal on contrast prompts (eval split, first
answer token) as each method's strength varies: the refusal-token logit bias, the global
direction, categorical steering routed by the probe with difference-in-means, ridge and
low-rank whitened vectors (their benign coefficient; ridge and low-rank fitted on the direction
split), and the random-vector control routed the same way. The difference-in-means vectors
and the random control also sweep the harmful coefficient (`HARMFUL_SWEEP` x every benign
one), since a push on prompts routed harmful costs refusal of its own; their line is the
frontier of the best trade-offs over both coefficients, every point drawn faint beside it.
The shaded region is the paper's "desirable" corner (over-refusal <= 25%, refusal >= 75%).
"""

from mechrefusal._entry import run_entry
from mechrefusal.engine.generation import reused_prefix
from mechrefusal.reporting import experiment, plotting
from mechrefusal.steering.methods import (
    BIAS_GRID,
    STEERING_GRID,
    Categorical,
    GlobalDirection,
    LogitBias,
    RandomControl,
    low_rank_method,
    ridge_method,
)
from mechrefusal.steering.sweeps import sweep_method

HARMFUL_SWEEP = (0.2, 0.4, 0.8)
"""Harmful coefficients of the two-coefficient sweeps (0.8 is the paper's)."""


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv, needs=("harmful", "contrast"))
    args, loaded, splits = run.args, run.loaded, run.splits
    router = run.router()
    low_rank, _ = low_rank_method(loaded.model, router, splits.direction)
    two_way = (Categorical(), RandomControl(name="random vectors (probe)"))
    runs = [
        (LogitBias(), BIAS_GRID),
        (GlobalDirection(), STEERING_GRID),
        (ridge_method(loaded.model, router, splits.direction, seed=args.seed), STEERING_GRID),
        (low_rank, STEERING_GRID),
    ] + [(m.at_harmful_coef(h), STEERING_GRID) for m in two_way for h in HARMFUL_SWEEP]
    curves: dict[str, list[dict]] = {}
    with reused_prefix(loaded.model):  # the sweeps share the eval batches' lower blocks
        for method, grid in runs:
            curves.setdefault(method.name, []).extend(
                p.to_dict()
                for p in sweep_method(
                    loaded.model, router, splits.eval, method, grid, batch_size=args.batch_size
                )
            )
    fig = plotting.tradeoff_curves(
        curves, title=f"Safety trade-off as the coefficient varies ({router.hook})"
    )
    data = {
        "hook": router.hook,
        "layer": run.layer,
        "layer_reason": run.layer_reason,
        "curves": curves,
        "harmful_sweep": list(HARMFUL_SWEEP),
    }
    return run.save("08_coefficient_sweep", fig, data, headline={"layer": run.layer})


if __name__ == "__main__":
    run_entry(main)
