"""Figure 14 — are category vectors specific? Every vector on every category's prompts.

For each pair (steering vector of category i, harmful eval prompts of category j), first answer
token only: the change in refusal when v_i is subtracted at the last prompt token, and the
change in the share of prompts answered with i's refusal token when v_i is added (+0.8 x the
mean activation norm). The removal strength is the weakest that takes half of the own
category's refusal on the direction split (`--remove-coef` sets it; the paper's benign
coefficient is -1.2, which removes every refusal everywhere on SmolLM2). A specific vector
changes its own column most (the diagonal); the paper only shows own-category effects.
"""

from mechrefusal._entry import run_entry
from mechrefusal.engine.generation import reused_prefix
from mechrefusal.reporting import experiment, plotting
from mechrefusal.steering.matrices import cross_category_matrix
from mechrefusal.steering.sweeps import half_removal_coef


def _options(parser):
    parser.add_argument(
        "--remove-coef",
        type=float,
        default=None,
        help="removal strength (x the mean activation norm); default: the weakest that takes "
        "half of the own category's refusal on the direction split",
    )


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv, needs=("harmful",), extra=_options)
    router = run.router()
    model, batch = run.loaded.model, run.args.batch_size
    remove = run.args.remove_coef
    with reused_prefix(model):  # one forward of each batch's lower blocks for every push
        if remove is None:
            remove = half_removal_coef(model, router, run.splits.direction, batch_size=batch)
        result = cross_category_matrix(
            model, router, run.splits.eval, remove_coef=remove, batch_size=batch
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
        "remove_coef_picked": run.args.remove_coef is None,
    }
    return run.save("14_cross_category", fig, data, headline={"specificity": specificity})


if __name__ == "__main__":
    run_entry(main)
