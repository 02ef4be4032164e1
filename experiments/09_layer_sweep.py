"""Figure 09 — layer sweep: where categories become linearly separable, and direction size by layer.

Held-out linear-probe accuracy on the category label (harmful prompts) and on
harmful-vs-benign at every layer's resid_post, and each category direction's norm relative to
the mean activation norm. The chosen layer (used by the other figures) and the rule that chose
it are recorded in the JSON; the paper chose layer 9 of 32 from a one-pair stability check.
"""

import time

from mechrefusal import experiment, plotting


def main(argv: list[str] | None = None):
    started = time.perf_counter()
    args = experiment.parse_args(__doc__, argv)
    loaded = experiment.load(args)
    splits = experiment.prompt_splits(args, loaded)
    result = experiment.cached_layer_sweep(args, loaded, splits).to_dict()
    fig = plotting.layer_sweep(result, title=f"Layer sweep of {loaded.spec}")
    headline = {
        "chosen_layer": result["chosen_layer"],
        "category_accuracy_at_chosen": result["category_accuracy"][
            result["layers"].index(result["chosen_layer"])
        ],
    }
    return experiment.save(
        args, "09_layer_sweep", fig, result, loaded=loaded, headline=headline, started=started
    )


if __name__ == "__main__":
    main()
