"""Figure 13 — steering methods from the field, side by side on the same eval prompts.

Harmful refusal, benign and contrast over-refusal and capability (95% Wilson intervals) for:
the unsteered model; the refusal-token logit bias and the global direction (strengths tuned on
the direction split to <= 5% contrast over-refusal); categorical steering routed by the probe
with three estimators of the vectors — difference in means (the paper's), ridge regression
(García-Ferrero et al. 2025) and the low-rank whitened combination (the ICML extension, mapped
back to residual coordinates) — plus the low-rank variant as the original code had it (not
un-whitened); and the random-vector control. Every categorical method uses the same routing,
coefficients (-1.2 / +0.8 x mean activation norm) and positions (prompt pass); every fitted
vector sees only the direction split. The trade-off curve of each method is figure 08.
"""

from mechrefusal._entry import run_entry
from mechrefusal.engine.generation import reused_prefix
from mechrefusal.reporting import experiment, plotting
from mechrefusal.steering.comparison import compare_methods, headline_rates
from mechrefusal.steering.lowrank import LowRankConfig, train_low_rank
from mechrefusal.steering.methods import (
    BIAS_GRID,
    STEERING_GRID,
    Categorical,
    GlobalDirection,
    LogitBias,
    RandomControl,
    Unsteered,
    low_rank_method,
    ridge_method,
)
from mechrefusal.steering.sweeps import tune_strengths


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv, needs=("harmful", "contrast"))
    args, loaded, splits = run.args, run.loaded, run.splits
    model, router = loaded.model, run.router()
    with reused_prefix(model):  # tuning and comparison share each split's lower blocks
        tunable = {LogitBias(): BIAS_GRID, GlobalDirection(): STEERING_GRID}
        tuned = tune_strengths(model, router, splits.choice, tunable, batch_size=args.batch_size)
        low_rank, trained = low_rank_method(model, router, splits.direction)
        original, original_trained = low_rank_method(
            model, router, splits.direction, LowRankConfig(unwhiten=False)
        )
        methods = [
            Unsteered(),
            *(m.at_strength(tuned[m.name]) for m in tunable),
            Categorical(name="categorical, difference in means (probe)"),
            ridge_method(model, router, splits.direction, seed=args.seed),
            low_rank,
            original,
            RandomControl(name="random vectors (probe)", seed=args.seed),
        ]
        results = [
            r.to_dict()
            for r in compare_methods(
                model, router, splits.eval, methods, batch_size=args.batch_size
            )
        ]
    fig = plotting.steering_results(
        results, title=f"Steering methods side by side, eval split ({router.hook})"
    )
    low_rank_data = {"low-rank": trained.summary(), "original": original_trained.summary()}
    if splits.train:
        # Why not the fine-tuning split: the objective there, before any training (on an even
        # sample of at most 256 of its prompts).
        sample = splits.train[:: max(1, len(splits.train) // 256)]
        on_train = train_low_rank(
            model,
            router.directions,
            splits.direction,
            sample,
            LowRankConfig(steps=0),
            progress=False,
        )
        low_rank_data["train_split_start_loss"] = on_train.start_loss
    data = {
        "hook": router.hook,
        "layer": run.layer,
        "layer_reason": run.layer_reason,
        "act_norm": router.act_norm,
        "tuned_strengths": tuned,
        "low_rank": low_rank_data,
        "methods": results,
    }
    return run.save("13_methods_side_by_side", fig, data, headline=headline_rates(results))


if __name__ == "__main__":
    run_entry(main)
