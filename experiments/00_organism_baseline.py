"""Figure 00 — the model organism's baseline behaviour on its eval split.

Refusal rate per harmful category and the share answered with the right category token,
over-refusal on benign tasks and on contrast prompts (the built-in problem steering must fix),
and capability (exact match on benign tasks), each with a Wilson 95% interval. Prompts are from
the eval split: templates and slot values never seen in training.
"""

from mechrefusal import experiment, plotting
from mechrefusal.evaluation import evaluate


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv, with_layer=False)
    args, loaded, splits = run.args, run.loaded, run.splits
    result = evaluate(loaded.model, splits.eval, batch_size=args.batch_size).to_dict()
    fig = plotting.organism_baseline(
        result, title=f"Baseline behaviour of {loaded.spec} (eval split)"
    )
    headline = {
        "harmful_refusal": result["harmful_refusal"]["all"]["value"],
        "contrast_over_refusal": result["over_refusal"]["contrast"]["value"],
        "benign_over_refusal": result["over_refusal"]["benign"]["value"],
        "capability": result["capability"]["value"] if result["capability"] else None,
    }
    return run.save("00_organism_baseline", fig, result, headline=headline)


if __name__ == "__main__":
    main()
