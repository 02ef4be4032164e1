"""Figure 10 — where category identity is written: activation patching and attribution patching.

Harmful eval prompts and their benign twins (the harmful cue swapped for a benign cue of equal
token length, so positions align); the clean (harmful) activation of resid_pre, attn_out or
mlp_out at one layer and position is patched into the benign run. Metric: category-token minus
`[respond]` logit at the answer position, 0 = benign run, 1 = harmful run; positions are
aligned from the end of the chat-formatted prompt. The right panel checks attribution patching
(one forward + one backward) against the exact grid.
"""

from mechrefusal._entry import run_entry
from mechrefusal.analysis.patching import matched_pairs, run_patching
from mechrefusal.reporting import experiment, plotting


def main(argv: list[str] | None = None):
    run = experiment.start(
        __doc__,
        argv,
        extra=lambda p: p.add_argument("--pairs", type=int, default=6, help="pairs per category"),
        with_layer=False,
    )
    args, loaded, splits = run.args, run.loaded, run.splits
    pairs = matched_pairs(
        splits.eval, loaded.tokenizer, per_category=2 if args.quick else args.pairs
    )
    result = run_patching(loaded.model, pairs).to_dict()
    fig = plotting.patching(
        result, title=f"Activation patching, harmful -> benign twin ({run.args.model})"
    )
    headline = {"n_pairs": result["n_pairs"], "attribution_correlation": result["correlation"]}
    return run.save("10_activation_patching", fig, result, headline=headline)


if __name__ == "__main__":
    run_entry(main)
