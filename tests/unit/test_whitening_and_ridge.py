"""Whitening, the whitened steering basis and ridge directions against naive references."""

import numpy as np
import pytest
import torch
from sklearn.covariance import ledoit_wolf
from sklearn.covariance import ledoit_wolf_shrinkage as sk_shrinkage
from sklearn.linear_model import Ridge

from mechrefusal.steering.ridge import (
    choose_alpha,
    ridge_directions_from_activations,
    ridge_weights,
)
from mechrefusal.steering.whitening import (
    ledoit_wolf_shrinkage,
    shrunk_covariance,
    steering_basis,
    whitening,
)


def _acts(n, d, seed=0):
    gen = torch.Generator().manual_seed(seed)
    scales = torch.logspace(-1, 1, d, dtype=torch.float64)
    return (torch.randn(n, d, generator=gen, dtype=torch.float64) * scales) + 3.0


@pytest.mark.parametrize("n,d", [(40, 12), (10, 24)])
def test_shrinkage_and_covariance_match_sklearn(n, d):
    x = _acts(n, d)
    assert ledoit_wolf_shrinkage(x) == pytest.approx(sk_shrinkage(x.numpy()), rel=1e-9)
    expected, _ = ledoit_wolf(x.numpy())
    assert np.allclose(shrunk_covariance(x).numpy(), expected, atol=1e-10)


def test_whitening_is_identity_on_the_support():
    x = _acts(8, 20)  # n < d: the sample covariance has rank 7
    cov = shrunk_covariance(x, shrinkage=0.0)
    white = whitening(cov, eps=1e-8)
    assert white.rank == 7
    whitened_cov = white.matrix @ cov @ white.matrix
    values = torch.linalg.eigvalsh(whitened_cov)
    assert torch.allclose(values[-7:], torch.ones(7, dtype=values.dtype), atol=1e-6)
    assert torch.allclose(values[:-7], torch.zeros(13, dtype=values.dtype), atol=1e-6)
    # Shrinkage makes it full rank: W cov W = I, and unwhiten inverts whiten everywhere.
    full = whitening(shrunk_covariance(x))
    assert full.rank == 20
    cov = shrunk_covariance(x)
    assert torch.allclose(
        full.matrix @ cov @ full.matrix, torch.eye(20, dtype=cov.dtype), atol=1e-6
    )
    v = torch.randn(3, 20, dtype=torch.float64)
    assert torch.allclose(full.unwhiten(full.whiten(v)), v, atol=1e-8)


def test_qr_basis_spans_the_whitened_vectors():
    x = _acts(30, 16)
    white = whitening(shrunk_covariance(x))
    vectors = torch.randn(5, 16, dtype=torch.float64)
    q, r = steering_basis(vectors, white)
    assert torch.allclose(q.T @ q, torch.eye(5, dtype=q.dtype), atol=1e-8)
    whitened = white.whiten(vectors).T
    assert torch.allclose(q @ (q.T @ whitened), whitened, atol=1e-8)  # inside span(Q)
    assert torch.allclose(q @ r, whitened, atol=1e-8)


@pytest.mark.parametrize("n,d", [(50, 10), (12, 30)])
def test_ridge_matches_sklearn(n, d):
    x = _acts(n, d, seed=1)
    y = (torch.rand(n, generator=torch.Generator().manual_seed(2)) > 0.5).double()
    for alpha in (0.1, 3.0, 100.0):
        sk = Ridge(alpha=alpha, fit_intercept=True).fit(x.numpy(), y.numpy()).coef_
        assert np.allclose(ridge_weights(x, y, alpha).numpy(), sk, atol=1e-8)
    with pytest.raises(ValueError, match="alpha"):
        ridge_weights(x, y, 0.0)


def test_ridge_discounts_a_noisy_coordinate_that_fools_the_mean_difference():
    # Coordinate 0 separates the classes cleanly; coordinate 1 differs more in mean but is
    # drowned in within-class noise. Ridge puts its weight on 0, the difference of means on 1.
    gen = torch.Generator().manual_seed(0)
    n = 400
    labels = torch.arange(n) % 2 == 0
    x = torch.randn(n, 6, generator=gen) * 0.05
    x[:, 0] += labels.float() * 0.5
    x[:, 1] += labels.float() * 1.0 + torch.randn(n, generator=gen) * 8.0
    harmful, benign = x[labels], x[~labels]
    ridge = ridge_directions_from_activations(
        {"safety": harmful}, benign, hook="blocks.0.hook_resid_post", layer=0, k=6
    )
    w = ridge.dense[0] / ridge.dense[0].norm()
    assert abs(float(w[0])) > 0.9


def test_alpha_choice_matches_sklearn_cross_validation():
    """The cross-validated errors are sklearn's Ridge on the same folds, and the chosen alpha
    is the grid point sklearn's errors rank lowest (not merely what the function computed)."""
    from sklearn.linear_model import Ridge as SkRidge
    from sklearn.metrics import mean_squared_error

    x = _acts(60, 8, seed=3)
    y = (x[:, 0] + 0.3 * torch.randn(60, generator=torch.Generator().manual_seed(4)) > 3.0).double()
    alphas = (1e-4, 1e-2, 1.0, 100.0)
    choice = choose_alpha(x, y, alphas, folds=5, seed=7)
    order = torch.randperm(60, generator=torch.Generator().manual_seed(7))
    scale = float((x**2).sum(-1).mean())
    reference = {}
    for rel in alphas:
        errors = []
        for held in order.chunk(5):
            keep = torch.ones(60, dtype=torch.bool)
            keep[held] = False
            model = SkRidge(alpha=rel * scale).fit(x[keep].numpy(), y[keep].numpy())
            errors.append(mean_squared_error(y[held].numpy(), model.predict(x[held].numpy())))
        reference[rel] = float(np.mean(errors))
    for rel in alphas:
        assert choice.cv_mse[rel] == pytest.approx(reference[rel], rel=1e-6)
    best = min(reference, key=reference.get)
    assert choice.alpha == pytest.approx(best * scale)
    assert len(set(round(v, 6) for v in reference.values())) > 1  # the grid points differ
