"""Figure 11 — directional ablation per category: which categories stop being refused.

Each category's (dense) direction, then the global refusal direction, is projected out of the
residual stream at every layer; the matrix shows the refusal rate on each category's harmful
eval prompts (first answer token) after each ablation, with the unablated baseline on top.
"""

import time

from mechrefusal import experiment, plotting
from mechrefusal.comparison import ablation_matrix
from mechrefusal.steering import fit_router


def main(argv: list[str] | None = None):
    started = time.perf_counter()
    args = experiment.parse_args(__doc__, argv)
    loaded = experiment.load(args)
    splits = experiment.prompt_splits(args, loaded)
    layer, reason = experiment.chosen_layer(args, loaded, splits)
    router = fit_router(
        loaded.model, splits.direction, layer=layer, probe_prompts=splits.probe, seed=args.seed
    )
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
    return experiment.save(
        args,
        "11_directional_ablation",
        fig,
        data,
        loaded=loaded,
        headline=headline,
        started=started,
    )


if __name__ == "__main__":
    main()
