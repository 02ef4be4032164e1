"""Figure 10 — where category identity is written: activation patching and attribution patching.

Minimal pairs of equal token length, so positions align. On the organism: harmful eval prompts
and their benign twins (the harmful cue swapped for a benign one). On a real model: the pairs
written for the figure in `data/minimal_pairs.py` (one fill-in swapped inside a held-out frame:
harmful vs look-alike, or one category vs another). The clean (harmful) activation of
resid_pre, attn_out or mlp_out at one layer and position is patched into the corrupted run.
Metric: clean answer token minus corrupted answer token logit at the answer position,
0 = corrupted run, 1 = clean run; positions are aligned from the end of the chat-formatted
prompt. The right panel checks attribution patching (one forward + one backward) against the
exact grid.
"""

from mechrefusal._entry import run_entry
from mechrefusal.analysis.patching import matched_pairs, run_patching, written_pairs
from mechrefusal.models.loading import is_organism_spec
from mechrefusal.reporting import experiment, plotting


def _options(parser):
    parser.add_argument("--pairs", type=int, default=6, help="pairs per category (organism)")
    parser.add_argument(
        "--pairs-per-frame",
        type=int,
        default=1,
        help="pairs per written frame (real models; a SmolLM2 pair takes ~25 s on 2 cores)",
    )


def main(argv: list[str] | None = None):
    run = experiment.start(
        __doc__,
        argv,
        extra=_options,
        with_layer=False,
    )
    args, loaded, splits = run.args, run.loaded, run.splits
    if is_organism_spec(args.model) and not args.prompts:  # loaded.spec is its directory
        per = 2 if args.quick else args.pairs
        pairs = matched_pairs(splits.eval, loaded.tokenizer, per_category=per)
    else:
        pairs = written_pairs(loaded.tokenizer, per_frame=args.pairs_per_frame)
    result = run_patching(loaded.model, pairs).to_dict()
    fig = plotting.patching(
        result, title=f"Activation patching, harmful -> its minimal-pair twin ({run.args.model})"
    )
    headline = {"n_pairs": result["n_pairs"], "attribution_correlation": result["correlation"]}
    return run.save("10_activation_patching", fig, result, headline=headline)


if __name__ == "__main__":
    run_entry(main)
