"""Figure 09 — layer sweep: where categories become linearly separable, and direction size by layer.

Held-out linear-probe accuracy on the category label (harmful prompts) and on
harmful-vs-benign at every layer's resid_post, and each category direction's norm relative to
the mean activation norm. The chosen layer (used by the other figures) and the rule that chose
it are recorded in the JSON; the paper chose layer 9 of 32 from a one-pair stability check.
"""

from mechrefusal._entry import run_entry
from mechrefusal.reporting import experiment, plotting


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv, with_layer=False)
    args, loaded, splits = run.args, run.loaded, run.splits
    result = experiment.cached_layer_sweep(args, loaded, splits).to_dict()
    fig = plotting.layer_sweep(result, title=f"Layer sweep of {run.args.model}")
    headline = {
        "chosen_layer": result["chosen_layer"],
        "category_accuracy_at_chosen": result["category_accuracy"][
            result["layers"].index(result["chosen_layer"])
        ],
    }
    return run.save("09_layer_sweep", fig, result, headline=headline)


if __name__ == "__main__":
    run_entry(main)
