"""Figure 11 — directional ablation per category: which categories stop being refused.

Each category's (dense) direction, then the global refusal direction, is ablated from the
residual stream at every layer, and the matrix shows the refusal rate on each category's
harmful eval prompts (first answer token), with the unablated baseline on top. Two ablations,
side by side, because the verdict can depend on the choice: zero (the component is removed)
and mean (it is held at its mean over the direction split's prompts).
"""

from mechrefusal._entry import run_entry
from mechrefusal.engine.generation import reused_prefix
from mechrefusal.reporting import experiment, plotting
from mechrefusal.steering.matrices import ablation_matrix


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv, needs=("harmful", "benign|contrast"))
    args, loaded, splits = run.args, run.loaded, run.splits
    router = run.router()
    with reused_prefix(loaded.model):  # the unablated baseline is computed once for both modes
        results = {
            mode: ablation_matrix(
                loaded.model,
                router,
                splits.eval,
                mode=mode,
                reference=splits.direction,
                batch_size=args.batch_size,
            )
            for mode in ("zero", "mean")
        }
    fig = plotting.ablation_matrix(
        [r.to_dict() for r in results.values()],
        title=f"Refusal after directional ablation (directions from {router.hook})",
    )
    headline = {
        f"own_category_refusal_after_{mode}_ablation": r.own_category_refusal()
        for mode, r in results.items()
    }
    headline["baseline"] = dict(
        zip(results["zero"].categories, results["zero"].baseline, strict=True)
    )
    data = {
        "hook": router.hook,
        "layer": run.layer,
        "layer_reason": run.layer_reason,
        **{mode: r.to_dict() for mode, r in results.items()},
    }
    return run.save("11_directional_ablation", fig, data, headline=headline)


if __name__ == "__main__":
    run_entry(main)
