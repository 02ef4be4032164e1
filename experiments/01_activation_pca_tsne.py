"""Figure 01 — PCA and t-SNE of last-token residual activations, coloured by category.

Harmful prompts of each category, benign tasks and contrast prompts (direction split) at the
layer chosen by the layer sweep (fig 09). Silhouette of the group labels and the accuracy of a
linear probe trained on the direction split and scored on the eval split (held-out templates,
keywords and cues) are reported with the figure (docs/method.md, "Figures" printed a silhouette of -0.028).
"""

from mechrefusal._entry import run_entry
from mechrefusal.analysis.activations import cache_activations
from mechrefusal.analysis.geometry import embed_points, group_prompts
from mechrefusal.engine.hooks import hook_name
from mechrefusal.reporting import experiment, plotting


def main(argv: list[str] | None = None):
    run = experiment.start(
        __doc__, argv, extra=lambda p: p.add_argument("--per-group", type=int, default=120)
    )
    args, loaded, splits = run.args, run.loaded, run.splits
    layer, reason = run.layer, run.layer_reason
    hook = hook_name("resid_post", layer)

    def grouped_acts(prompts):
        texts, labels = group_prompts(prompts, max_per_group=args.per_group, seed=args.seed)
        return cache_activations(loaded.model, texts, [hook], batch_size=args.batch_size)[
            hook
        ], labels

    acts, labels = grouped_acts(splits.direction)
    # The probe trains on the direction split and is scored on the eval split: other templates.
    emb = embed_points(acts, labels, seed=args.seed, held_out=grouped_acts(splits.eval))
    fig = plotting.scatter_embedding(
        [
            (
                f"PCA ({emb.explained_variance_ratio[0]:.0%} + {emb.explained_variance_ratio[1]:.0%} var.)",
                emb.pca.numpy(),
                labels,
            ),
            ("t-SNE", emb.tsne.numpy(), labels),
        ],
        title=f"Residual-stream activations at {hook} (silhouette {emb.silhouette:.3f}, held-out-template probe acc. {emb.probe_accuracy:.3f})",
    )
    data = {"hook": hook, "layer": layer, "layer_reason": reason, **emb.to_dict()}
    headline = {"silhouette": emb.silhouette, "probe_accuracy": emb.probe_accuracy, "layer": layer}
    return run.save("01_activation_pca_tsne", fig, data, headline=headline)


if __name__ == "__main__":
    run_entry(main)
