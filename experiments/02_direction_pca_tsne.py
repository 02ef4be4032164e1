"""Figure 02 — PCA and t-SNE of the per-category steering vectors.

The five sparse (top-k, unit) category directions and their dense counterparts, embedded
together, at the layer chosen by the layer sweep (docs/method.md, "Figures": t-SNE of the 5 vectors).
"""

import torch

from mechrefusal._entry import run_entry
from mechrefusal.analysis.directions import compute_directions
from mechrefusal.analysis.geometry import embed_points
from mechrefusal.reporting import experiment, plotting


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv)
    args, loaded, splits = run.args, run.loaded, run.splits
    layer, reason = run.layer, run.layer_reason
    dirs = compute_directions(
        loaded.model, splits.direction, layer=layer, batch_size=args.batch_size
    )
    points = torch.cat([dirs.unit_vectors(sparse=True), dirs.unit_vectors(sparse=False)])
    labels = list(dirs.categories) * 2
    emb = embed_points(points, labels, perplexity=3.0, seed=args.seed, with_probe=False)
    n = len(dirs.categories)
    fig = plotting.scatter_embedding(
        [
            ("PCA, sparse vectors", emb.pca[:n].numpy(), labels[:n]),
            ("PCA, dense vectors", emb.pca[n:].numpy(), labels[n:]),
            ("t-SNE, sparse and dense", emb.tsne.numpy(), labels),
        ],
        title=f"Category steering vectors at {dirs.hook} (k={dirs.k} of {dirs.d_model})",
    )
    data = {
        "hook": dirs.hook,
        "layer": layer,
        "layer_reason": reason,
        "k": dirs.k,
        "kinds": ["sparse"] * n + ["dense"] * n,
        **emb.to_dict(),
    }
    return run.save("02_direction_pca_tsne", fig, data, headline={"layer": layer, "k": dirs.k})


if __name__ == "__main__":
    run_entry(main)
