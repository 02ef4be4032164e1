"""Figure 14 — are category vectors specific? Every vector on every category's prompts.

For each pair (steering vector of category i, harmful eval prompts of category j), first answer
token only: the change in refusal when v_i is subtracted at the last prompt token (-1.2 x the
mean activation norm, the benign coefficient), and the change in the share of prompts answered
with i's refusal token when v_i is added (+0.8 x norm). A specific vector changes its own column
most (the diagonal); the paper only shows own-category effects.
"""

from mechrefusal import experiment, plotting
from mechrefusal.comparison import cross_category_matrix


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv, needs=("harmful",))
    router = run.router()
    result = cross_category_matrix(
        run.loaded.model, router, run.splits.eval, batch_size=run.args.batch_size
    )
    fig = plotting.cross_category(
        result.to_dict(), title=f"Cross-category steering, eval split ({router.hook})"
    )
    specificity = result.specificity()
    data = {
        "hook": router.hook,
        "layer": run.layer,
        "layer_reason": run.layer_reason,
        **result.to_dict(),
        "specificity": specificity,
    }
    return run.save("14_cross_category", fig, data, headline={"specificity": specificity})


if __name__ == "__main__":
    main()
