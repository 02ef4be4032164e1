"""Figure 03 — cosine-similarity heatmaps between category steering vectors (paper Fig. 3).

Dense difference-in-means vectors and the sparse top-k unit vectors, RdBu_r fixed to [0, 1],
each cell annotated to 3 decimals. Paper (Llama-3 8B, layer 9, sparse): 0.070-0.750, with
Incomplete the outlier.
"""

from mechrefusal._entry import run_entry
from mechrefusal.analysis.directions import compute_directions, cosine_matrix, offdiagonal_range
from mechrefusal.reporting import experiment, plotting


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv)
    args, loaded, splits = run.args, run.loaded, run.splits
    layer, reason = run.layer, run.layer_reason
    dirs = compute_directions(
        loaded.model, splits.direction, layer=layer, batch_size=args.batch_size
    )
    dense, sparse = cosine_matrix(dirs.dense), cosine_matrix(dirs.sparse)
    fig = plotting.cosine_heatmaps(
        [
            ("Dense difference in means", dense.numpy()),
            (f"Sparse (top-{dirs.k}, unit norm)", sparse.numpy()),
        ],
        list(dirs.categories),
        title=f"Steering Vector Cosine Similarities ({dirs.hook})",
    )
    data = {
        "hook": dirs.hook,
        "layer": layer,
        "layer_reason": reason,
        "k": dirs.k,
        "categories": list(dirs.categories),
        "dense": dense.tolist(),
        "sparse": sparse.tolist(),
    }
    low, high = offdiagonal_range(sparse)
    headline = {"sparse_offdiag_min": low, "sparse_offdiag_max": high}
    return run.save("03_direction_cosine", fig, data, headline=headline)


if __name__ == "__main__":
    run_entry(main)
