"""Figure 05 — SAE features of each category direction (top, shared vs specific) and rebuild faithfulness.

A TopK SAE is trained with sae-lens's own trainer on the chosen layer, from the train and
direction prompts (text no evaluation reads), and cached under --artifacts in sae-lens's format;
or pass --sae-release/--sae-id for a pretrained sae-lens release. Its quality (explained
variance, L0, dead share) is measured on held-out eval prompts; below
`analysis.sae.MIN_EXPLAINED_VARIANCE` the figure reports it and shows no features.
The feature x category matrix is the difference of mean feature activations (harmful[c] vs
benign, direction split); the curve shows how much of each direction's steering effect (drop of
the refusal logit gap on harmful[c] eval prompts, coefficient -1.2 x mean norm) survives when it
is rebuilt from its top-k features, beside the same rebuild from k random features. The paper's SAE analysis was exploratory (docs/method.md, "Other analyses").
"""

from pathlib import Path

from mechrefusal._entry import run_entry
from mechrefusal.analysis.directions import compute_directions
from mechrefusal.analysis.sae import (
    SAETrainConfig,
    ensure_sae,
    load_pretrained_sae,
    sae_feature_view,
)
from mechrefusal.reporting import experiment, plotting


def _options(parser):
    parser.add_argument(
        "--sae-release", default=None, help="pretrained sae-lens release (real models)"
    )
    parser.add_argument("--sae-id", default=None, help="SAE id within the release")
    parser.add_argument("--top", type=int, default=4, help="features shown per category")


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv, extra=_options)
    args, loaded, splits = run.args, run.loaded, run.splits
    layer, reason = run.layer, run.layer_reason
    dirs = compute_directions(
        loaded.model, splits.direction, layer=layer, batch_size=args.batch_size
    )
    if args.sae_release:
        sae = load_pretrained_sae(
            args.sae_release,
            args.sae_id,
            model=loaded.model,
            hook=dirs.hook,
            device=args.device or "cpu",
        )
    else:
        train = [*splits.train, *splits.direction]
        cache = (
            Path(args.artifacts)
            / "sae"
            / f"{loaded.fingerprint.model_id.replace(':', '-')}-{loaded.fingerprint.tokenizer_hash}-{dirs.hook}"
        )
        sae = ensure_sae(
            loaded.model,
            loaded.fingerprint,
            dirs.hook,
            train,
            cache,
            SAETrainConfig(training_tokens=40_000 if args.quick else 600_000, seed=args.seed),
        )
    result = sae_feature_view(
        loaded.model,
        sae,
        dirs,
        splits.direction,
        splits.eval,
        top=args.top,
        ks=[1, 2, 4, 8, 16, 32, 64],
        coef=-1.2,
        batch_size=args.batch_size,
    ).to_dict()
    fig = plotting.sae_features(result, title=f"SAE view of the category directions ({dirs.hook})")
    headline = {
        "explained_variance": result["reconstruction"]["explained_variance"],
        "mean_l0": result["reconstruction"]["mean_l0"],
        "n_shared_features": len(result["shared_features"]),
    }
    data = {"hook": dirs.hook, "layer": layer, "layer_reason": reason, **result}
    return run.save("05_sae_features", fig, data, headline=headline)


if __name__ == "__main__":
    run_entry(main)
