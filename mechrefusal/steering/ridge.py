"""Ridge-regularised refusal directions (Refusal Steering, García-Ferrero et al. 2025; docs/method.md, "Steering methods compared").

Instead of a difference of means, the direction is the weight vector of a ridge regression of
refusal (1) vs compliance (0) labels on activations: it discounts coordinates that vary a lot
within both groups, which a difference of means cannot. The regulariser is chosen by k-fold
cross-validation on the direction split (never eval). Per category: harmful prompts of that
category vs benign/contrast; global: every harmful prompt vs benign/contrast. The result is a
`DirectionSet`, sparsified like the difference-in-means one, so every steering method and
figure takes it unchanged.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from einops import einsum, reduce

from mechrefusal._typing import Float, Tensor, typechecked
from mechrefusal.analysis.activations import cache_activations
from mechrefusal.analysis.directions import DirectionSet, _present, _sparsified_set, diff_in_means
from mechrefusal.categories import Category
from mechrefusal.data.prompts import Prompt
from mechrefusal.engine.hooks import resolve_hook
from mechrefusal.scoring.scorers import auroc
from mechrefusal.steering.router import by_category, split_activations

DEFAULT_ALPHAS = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)
"""Candidate regularisers (relative to the mean squared activation norm: `ridge_weights`)."""


@typechecked
def ridge_weights(
    acts: Float[Tensor, "n d_model"], labels: Float[Tensor, " n"], alpha: float
) -> Float[Tensor, " d_model"]:
    """argmin_w ||y - y_mean - (X - X_mean) w||^2 + alpha ||w||^2 (closed form, float64).

    Same as scikit-learn's `Ridge(alpha, fit_intercept=True).coef_`. Uses the dual form
    X^T (X X^T + alpha I)^-1 y when there are fewer prompts than dimensions.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}.")
    if acts.shape[0] != labels.shape[0] or acts.shape[0] < 2:
        raise ValueError(
            f"Need >= 2 rows and one label per row, got {acts.shape} and {labels.shape}."
        )
    x = acts.double() - reduce(acts.double(), "n d -> d", "mean")
    y = labels.double() - labels.double().mean()
    n, d = x.shape
    if n < d:
        gram = einsum(x, x, "i d, j d -> i j") + alpha * torch.eye(n, dtype=x.dtype)
        w = einsum(x, torch.linalg.solve(gram, y), "n d, n -> d")
    else:
        gram = einsum(x, x, "n i, n j -> i j") + alpha * torch.eye(d, dtype=x.dtype)
        w = torch.linalg.solve(gram, einsum(x, y, "n d, n -> d"))
    return w.to(acts.dtype)


@dataclass(frozen=True)
class AlphaChoice:
    alpha: float
    """The chosen regulariser (absolute, in squared activation units)."""
    scale: float
    """Mean squared activation norm: the grid is alphas x scale."""
    cv_mse: dict[float, float]
    """Relative alpha -> mean held-out squared error."""


def choose_alpha(
    acts: Float[Tensor, "n d_model"],
    labels: Float[Tensor, " n"],
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    *,
    folds: int = 5,
    seed: int = 0,
) -> AlphaChoice:
    """k-fold cross-validated choice of alpha (grid relative to the mean squared norm, so one
    grid fits every model's activation scale)."""
    n = acts.shape[0]
    folds = min(folds, n)
    if folds < 2:
        raise ValueError(f"Cross-validation needs at least 2 rows, got {n}.")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    parts = order.chunk(folds)
    scale = float((acts.double() ** 2).sum(-1).mean())
    mse = {}
    for rel in alphas:
        errors = []
        for held in parts:
            keep = torch.ones(n, dtype=torch.bool)
            keep[held] = False
            x, y = acts[keep].double(), labels[keep].double()
            w = ridge_weights(x, y, rel * scale)
            bias = y.mean() - x.mean(0) @ w
            pred = acts[held].double() @ w + bias
            errors.append(float(((pred - labels[held].double()) ** 2).mean()))
        mse[rel] = sum(errors) / len(errors)
    best = min(mse, key=mse.__getitem__)
    return AlphaChoice(alpha=best * scale, scale=scale, cv_mse=mse)


def _fit(positive: Tensor, negative: Tensor, alphas, seed: int) -> tuple[Tensor, AlphaChoice]:
    acts = torch.cat([positive, negative])
    labels = torch.cat([torch.ones(len(positive)), torch.zeros(len(negative))])
    choice = choose_alpha(acts, labels, alphas, seed=seed)
    return ridge_weights(acts, labels, choice.alpha), choice


def ridge_directions_from_activations(
    harmful: dict[Category, Float[Tensor, "n d_model"]],
    benign: Float[Tensor, "n_benign d_model"],
    *,
    hook: str,
    layer: int,
    k: int,
    tau: float = 0.0,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    seed: int = 0,
    metadata: dict | None = None,
) -> DirectionSet:
    """Per-category and global ridge directions, top-k sparsified like the difference in means
    (tau defaults to 0: ridge weights are not in activation units)."""
    cats = _present(harmful)
    fits = {c: _fit(harmful[c], benign, alphas, seed) for c in cats}
    glob, glob_choice = _fit(torch.cat([harmful[c] for c in cats]), benign, alphas, seed)
    chosen = {c: fits[c][1].alpha for c in cats} | {"global": glob_choice.alpha}
    return _sparsified_set(
        cats,
        torch.stack([fits[c][0] for c in cats]),
        glob,
        hook=hook,
        layer=layer,
        k=k,
        tau=tau,
        metadata={**(metadata or {}), "method": "ridge", "alpha": chosen},
    )


def fit_ridge_directions(
    model,
    prompts: Sequence[Prompt],
    *,
    hook: str,
    layer: int,
    k: int,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    seed: int = 0,
) -> DirectionSet:
    """Ridge directions of `model` at `hook` from a prompt list (use the direction split)."""
    harm, labels, benign = split_activations(model, hook, prompts, progress=False)
    return ridge_directions_from_activations(
        by_category(harm, labels), benign, hook=hook, layer=layer, k=k, alphas=alphas, seed=seed
    )


def _harmful_vs_rest(model, prompts: Sequence[Prompt], hooks: list[str]) -> tuple[dict, list[bool]]:
    kept = [p for p in prompts if p.kind in ("harmful", "benign", "contrast")]
    acts = cache_activations(model, [p.prompt for p in kept], hooks, progress=False)
    return acts, [p.kind == "harmful" for p in kept]


def separation_by_layer(
    model,
    fit_prompts: Sequence[Prompt],
    eval_prompts: Sequence[Prompt],
    *,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    seed: int = 0,
) -> dict:
    """Per layer (resid_post), the eval AUROC of harmful vs benign/contrast prompts projected
    on the global direction fitted on `fit_prompts` by each estimator: where the refusal signal
    is, and whether ridge finds more of it than the difference of means."""
    layers = list(range(model.cfg.n_layers))
    hooks = [resolve_hook(model, layer=layer, site="resid_post")[0] for layer in layers]
    fit, fit_harmful = _harmful_vs_rest(model, fit_prompts, hooks)
    test, test_harmful = _harmful_vs_rest(model, eval_prompts, hooks)
    if not any(fit_harmful) or all(fit_harmful):
        raise ValueError("Need harmful and benign/contrast prompts to fit global directions.")
    pos = torch.tensor(fit_harmful)
    out: dict[str, list[float]] = {"difference in means": [], "ridge": []}
    for hook in hooks:
        x = fit[hook]
        candidates = {
            "difference in means": diff_in_means(x[pos], x[~pos]),
            "ridge": _fit(x[pos], x[~pos], alphas, seed)[0],
        }
        for name, direction in candidates.items():
            scores = (test[hook] @ direction).tolist()
            out[name].append(auroc(scores, test_harmful))
    return {"layers": layers, "layer_auroc": out}
