"""Figure 04 — the sparse structure of the category steering vectors (paper Fig. 4 and its per-feature bars).

Grouped bars of |v_c[f]| for the residual coordinates most shared by the five sparse supports,
and one panel per most-shared coordinate. As in the paper, "features" are residual-stream
coordinates of the top-k vectors (docs/method.md, "Category directions"), not SAE latents: see fig 05.
"""

from mechrefusal._entry import run_entry
from mechrefusal.analysis.directions import compute_directions, shared_top_features
from mechrefusal.reporting import experiment, plotting


def main(argv: list[str] | None = None):
    run = experiment.start(
        __doc__, argv, extra=lambda p: p.add_argument("--features", type=int, default=5)
    )
    args, loaded, splits = run.args, run.loaded, run.splits
    layer, reason = run.layer, run.layer_reason
    dirs = compute_directions(
        loaded.model, splits.direction, layer=layer, batch_size=args.batch_size
    )
    features, values = shared_top_features(dirs.sparse, args.features)
    fig = plotting.sparse_features(
        values,
        list(dirs.categories),
        features,
        3,
        title=f"Top shared coordinates of the sparse steering vectors ({dirs.hook}, k={dirs.k})",
    )
    data = {
        "hook": dirs.hook,
        "layer": layer,
        "layer_reason": reason,
        "k": dirs.k,
        "categories": list(dirs.categories),
        "features": features,
        "abs_values": values,
        "support": {
            c: dirs.sparse[i].nonzero().flatten().tolist() for i, c in enumerate(dirs.categories)
        },
    }
    return run.save("04_sparse_features", fig, data, headline={"features": features, "k": dirs.k})


if __name__ == "__main__":
    run_entry(main)
