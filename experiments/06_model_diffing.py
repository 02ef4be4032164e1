"""Figure 06 — model diffing: base vs refusal-token model, per-category cosine (paper Table 1).

The same prompts (direction split, raw format: BOS + prompt, as the paper) and hook in both
models; cosine of the sparse category directions with bootstrap 95% intervals, a shuffled-label
null band, a random-sparse-direction null and a split-half ceiling. Paper: 0.317-0.336 for four
categories, 0.651 for Incomplete, with no null. On the organism the same comparison is made
against its control model (the same fine-tune without category tokens, docs/organism.md, "The control model"): what the
tokens add beyond refusal training.
"""

from mechrefusal._entry import run_entry
from mechrefusal.analysis.diffing import diff_models
from mechrefusal.reporting import experiment, plotting


def main(argv: list[str] | None = None):
    run = experiment.start(
        __doc__, argv, extra=lambda p: p.add_argument("--resamples", type=int, default=200)
    )
    args, loaded, splits = run.args, run.loaded, run.splits
    layer, reason = run.layer, run.layer_reason
    base = experiment.load(args, variant="base")

    def diff(tuned) -> dict:
        return diff_models(
            base.model,
            tuned,
            splits.direction,
            layer=layer,
            n_resamples=args.resamples,
            seed=args.seed,
        ).to_dict()

    result = diff(loaded.model)
    has_control = args.model.startswith("organism")
    control = diff(experiment.load(args, variant="control").model) if has_control else None
    fig = plotting.model_diffing(
        result,
        title=f"Cosine Similarity of Steering Vectors (sparse, {result['hook']})",
        control=control,
    )
    low = sum(c < 0.5 for c in result["cosine"])
    headline = {
        "cosine": dict(zip(result["categories"], result["cosine"], strict=True)),
        "n_below_0.5": low,
        "n_below_shuffled_null_p95": sum(result["below_shuffled_null_p95"]),
    }
    if control:
        headline["control_cosine"] = dict(
            zip(control["categories"], control["cosine"], strict=True)
        )
    data = {**result, "layer_reason": reason, "base_model": base.spec, "control": control}
    return run.save("06_model_diffing", fig, data, headline=headline)


if __name__ == "__main__":
    run_entry(main)
