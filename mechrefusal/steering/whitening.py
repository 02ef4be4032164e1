"""Whitening of residual activations and the whitened steering basis (docs/method.md, "Steering methods compared").

The ICML extension whitens the residual stream with the covariance of activations, then takes
an orthonormal basis of the whitened category vectors. On real models there are fewer prompts
than dimensions (n < d), so the sample covariance is singular; `shrunk_covariance` shrinks it
towards a scaled identity (Ledoit-Wolf), which keeps every direction invertible and lets a
combination found in whitened coordinates be mapped back to the residual stream
(`Whitening.unwhiten`) — the step the original code left out.
"""

from dataclasses import dataclass

import torch
from einops import einsum, reduce

from mechrefusal._typing import Float, Tensor, typechecked


@typechecked
def ledoit_wolf_shrinkage(acts: Float[Tensor, "n d_model"]) -> float:
    """The Ledoit-Wolf (2004) shrinkage intensity towards mu * I (mu = mean eigenvalue).

    Same estimator as `sklearn.covariance.ledoit_wolf` (tested against it).
    """
    n = acts.shape[0]
    if n < 2:
        raise ValueError(f"Covariance needs at least 2 activations, got {n}.")
    x = acts.double() - reduce(acts.double(), "n d -> d", "mean")
    cov = einsum(x, x, "n i, n j -> i j") / n
    mu = float(torch.trace(cov)) / cov.shape[0]
    delta = float(((cov - mu * torch.eye(cov.shape[0], dtype=cov.dtype)) ** 2).sum())
    sq = x**2
    beta = float((einsum(sq, sq, "n i, n j -> i j")).sum()) / n - float((cov**2).sum())
    beta = min(beta / n, delta)
    return 0.0 if delta == 0 else beta / delta


@typechecked
def shrunk_covariance(
    acts: Float[Tensor, "n d_model"], shrinkage: float | None = None
) -> Float[Tensor, "d_model d_model"]:
    """(1 - a) * sample covariance + a * mean eigenvalue * I; `a` by Ledoit-Wolf when None."""
    if shrinkage is None:
        shrinkage = ledoit_wolf_shrinkage(acts)
    if not 0.0 <= shrinkage <= 1.0:
        raise ValueError(f"shrinkage must be in [0, 1], got {shrinkage}.")
    x = acts.double() - reduce(acts.double(), "n d -> d", "mean")
    cov = einsum(x, x, "n i, n j -> i j") / acts.shape[0]
    mu = torch.trace(cov) / cov.shape[0]
    eye = torch.eye(cov.shape[0], dtype=cov.dtype)
    return ((1 - shrinkage) * cov + shrinkage * mu * eye).to(acts.dtype)


@dataclass(frozen=True)
class Whitening:
    """W = U diag(1/sqrt(s)) U^T and its inverse, on the eigen-directions with s > eps."""

    matrix: Float[Tensor, "d_model d_model"]
    inverse: Float[Tensor, "d_model d_model"]
    rank: int
    """Eigen-directions kept (all of them when the covariance was shrunk)."""

    @typechecked
    def whiten(self, x: Float[Tensor, "*batch d_model"]) -> Float[Tensor, "*batch d_model"]:
        return einsum(self.matrix.to(x.dtype), x, "i j, ... j -> ... i")

    @typechecked
    def unwhiten(self, x: Float[Tensor, "*batch d_model"]) -> Float[Tensor, "*batch d_model"]:
        """Whitened coordinates -> residual coordinates (the pseudo-inverse on the support)."""
        return einsum(self.inverse.to(x.dtype), x, "i j, ... j -> ... i")


@typechecked
def whitening(cov: Float[Tensor, "d_model d_model"], eps: float = 1e-4) -> Whitening:
    """Symmetric (ZCA) whitening of a covariance; directions with eigenvalue <= eps are dropped
    (so W cov W is the identity on the support, not on the null space)."""
    values, vectors = torch.linalg.eigh(cov.double())
    keep = values > eps
    if not keep.any():
        raise ValueError(f"Every eigenvalue of the covariance is <= eps={eps}: nothing to whiten.")
    u, s = vectors[:, keep], values[keep]
    matrix = einsum(u / s.sqrt(), u, "i k, j k -> i j")
    inverse = einsum(u * s.sqrt(), u, "i k, j k -> i j")
    return Whitening(
        matrix=matrix.to(cov.dtype), inverse=inverse.to(cov.dtype), rank=int(keep.sum())
    )


@typechecked
def steering_basis(
    vectors: Float[Tensor, "category d_model"], white: Whitening
) -> tuple[Float[Tensor, "d_model category"], Float[Tensor, "category category"]]:
    """QR of the whitened category vectors as columns: Q (orthonormal) spans W v_1..W v_K."""
    columns = white.whiten(vectors).T
    q, r = torch.linalg.qr(columns.double())
    return q.to(vectors.dtype), r.to(vectors.dtype)
