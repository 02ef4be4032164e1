"""Figure 11 — directional ablation per category: which categories stop being refused.

Each category's (dense) direction, then the global refusal direction, is projected out of the
residual stream at every layer; the matrix shows the refusal rate on each category's harmful
eval prompts (first answer token) after each ablation, with the unablated baseline on top.
"""

from mechrefusal import experiment, plotting
from mechrefusal.comparison import ablation_matrix


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv)
    args, loaded, splits = run.args, run.loaded, run.splits
    layer, reason = run.layer, run.layer_reason
    router = run.router()
    ablation = ablation_matrix(loaded.model, router, splits.eval, batch_size=args.batch_size)
    result = ablation.to_dict()
    fig = plotting.ablation_matrix(
        result, title=f"Refusal after directional ablation (directions from {router.hook})"
    )
    headline = {
        "own_category_refusal_after_ablation": ablation.own_category_refusal(),
        "baseline": dict(zip(result["categories"], result["baseline"], strict=True)),
    }
    data = {"hook": router.hook, "layer": layer, "layer_reason": reason, **result}
    return run.save("11_directional_ablation", fig, data, headline=headline)


if __name__ == "__main__":
    main()
