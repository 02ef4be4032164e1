"""Figure 15 — ridge-regression vs difference-in-means refusal directions.

Refusal Steering (García-Ferrero et al. 2025) fits the direction by ridge regression of
refusal-vs-compliance labels (regulariser by cross-validation on the direction split) and
reports the refusal signal spread over many dimensions and strongest in deeper layers. Here, at
the steering layer: the cosine between the two estimators per category (dense and top-k); the
steering effect (probe-routed, benign coefficient -1.2, first answer token on the eval split)
as the number of coordinates kept grows, beside random directions of the same norms and
sparsity routed the same way (the control); and, at every layer, how well the projection on each
estimator's global direction separates harmful from benign/contrast eval prompts (AUROC).
"""

import torch

from mechrefusal._entry import run_entry
from mechrefusal.analysis.directions import random_directions
from mechrefusal.engine.generation import reused_prefix
from mechrefusal.reporting import experiment, plotting
from mechrefusal.steering.methods import Unsteered
from mechrefusal.steering.ridge import fit_ridge_directions, separation_by_layer
from mechrefusal.steering.sweeps import k_curve, sweep_method

COEFFICIENT = -1.2


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv, needs=("harmful", "contrast"))
    args, model, splits = run.args, run.loaded.model, run.splits
    router = run.router()
    mean = router.directions
    ridge = fit_ridge_directions(
        model, splits.direction, hook=router.hook, layer=run.layer, k=mean.k, seed=args.seed
    )
    cosine = {
        kind: dict(
            zip(
                mean.categories,
                torch.cosine_similarity(getattr(ridge, kind), getattr(mean, kind)).tolist(),
                strict=True,
            )
        )
        for kind in ("dense", "sparse")
    }
    d = model.cfg.d_model
    ks = sorted({min(2**i, d) for i in range(d.bit_length() + 1)})
    with reused_prefix(model):  # the k curve and the unsteered point share the eval batches
        curve = k_curve(
            model,
            router,
            splits.eval,
            {
                "difference in means": mean,
                "ridge": ridge,
                "random (same norms and sparsity)": random_directions(mean, seed=args.seed),
            },
            ks,
            coefficient=COEFFICIENT,
            batch_size=args.batch_size,
        )
        unsteered = sweep_method(
            model, router, splits.eval, Unsteered(), [0.0], batch_size=args.batch_size
        )[0].to_dict()
    layers = separation_by_layer(model, splits.direction, splits.eval, seed=args.seed)
    data = {
        "hook": router.hook,
        "layer": run.layer,
        "layer_reason": run.layer_reason,
        "alpha": ridge.metadata["alpha"],
        "cosine": cosine,
        "coefficient": COEFFICIENT,
        "k_curve": curve,
        "unsteered": unsteered,
        **layers,
    }
    fig = plotting.ridge_vs_mean(
        data, title=f"Ridge vs difference-in-means directions ({router.hook})"
    )
    best = {name: max(v) for name, v in layers["layer_auroc"].items()}
    headline = {
        "mean_dense_cosine": sum(cosine["dense"].values()) / len(cosine["dense"]),
        "best_layer_auroc": best,
    }
    return run.save("15_ridge_vs_mean", fig, data, headline=headline)


if __name__ == "__main__":
    run_entry(main)
