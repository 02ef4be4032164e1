"""Figure 13 — steering methods from the field, side by side on the same eval prompts.

Harmful refusal, benign and contrast over-refusal and capability (95% Wilson intervals) for:
the unsteered model; the refusal-token logit bias and the global direction (strengths tuned for
the goal on the choice split: dev for SmolLM2, direction for the organism); categorical steering routed by the probe
with three estimators of the vectors — difference in means (the paper's), ridge regression
(García-Ferrero et al. 2025) and the low-rank whitened combination (the ICML extension, mapped
back to residual coordinates) — plus the low-rank variant as the original code had it (not
un-whitened); and the random-vector control. Every categorical method uses the same routing,
coefficients (-1.2 / +0.8 x mean activation norm) and positions (prompt pass); every fitted
vector sees only the direction split. Beside them, Wang et al.'s false-refusal vector ablation
(no router: look-alike minus benign mean, partially orthogonalised against the true refusal
vector, ablated at every layer; its read-out layer and coefficient chosen for the goal on the
choice split, capability included) and its control, a random direction ablated the same way. The trade-off curve of each method is figure 08.
Where figure 07's record in --out was made by the same code on the same model and prompts, its
tuned strengths and its rows for the five methods both figures show are read, not rerun.
"""

from mechrefusal._entry import run_entry
from mechrefusal.engine.generation import reused_prefix
from mechrefusal.reporting import experiment, plotting
from mechrefusal.steering.comparison import compare_reusing, headline_rates
from mechrefusal.steering.false_refusal import (
    candidate_layers,
    refusal_means,
    release_edited_copies,
    tune_false_refusal,
)
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
    # Figure 07 measured five of these methods on the same model and prompts with the same
    # code: where its record says so, its tuned strengths and rows are read, not recomputed.
    earlier = run.earlier("07_steering_results")
    with reused_prefix(model):  # tuning and comparison share each split's lower blocks
        tunable = {LogitBias(): BIAS_GRID, GlobalDirection(): STEERING_GRID}
        tuned = (
            earlier["data"]["tuned_strengths"]
            if earlier
            else tune_strengths(model, router, splits.choice, tunable, batch_size=args.batch_size)
        )
        low_rank, trained = low_rank_method(model, router, splits.direction)
        original, original_trained = low_rank_method(
            model, router, splits.direction, LowRankConfig(unwhiten=False)
        )
        # Wang et al.: no router; read-out layer and lam chosen on the choice split.
        means = refusal_means(
            model,
            splits.direction,
            candidate_layers(model.cfg.n_layers),
            batch_size=args.batch_size,
        )
        wang = tune_false_refusal(model, router, splits.choice, means, batch_size=args.batch_size)
        methods = [
            Unsteered(),
            *(m.at_strength(tuned[m.name]) for m in tunable),
            Categorical(name="categorical, difference in means (probe)"),
            ridge_method(model, router, splits.direction, seed=args.seed),
            low_rank,
            original,
            RandomControl(name="random vectors (probe)", seed=args.seed),
            wang.method,
            wang.method.random_control(seed=args.seed),
        ]
        results = compare_reusing(
            model,
            router,
            splits.eval,
            methods,
            earlier["data"]["methods"] if earlier else (),
            batch_size=args.batch_size,
        )
    release_edited_copies()  # the last edited model copy (Wang et al. or its control)
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
        "false_refusal": {
            "chosen": wang.method.describe(),
            "points": wang.points,
            "chosen_on": splits.choice_name,
        },
        "methods": results,
        # Where the tuned strengths and the shared methods' rows were read from (None: run here).
        "reused_from": "07_steering_results.json" if earlier else None,
    }
    return run.save("13_methods_side_by_side", fig, data, headline=headline_rates(results))


if __name__ == "__main__":
    run_entry(main)
