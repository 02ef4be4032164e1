"""Interventions on the residual stream, each a context manager that always cleans up (docs/method.md, "Other analyses").

- activation addition: add a vector (or one vector per prompt) at a hook, at the last position
  of every forward call (with the KV cache: the last prompt token, then each generated token)
  or at every position;
- directional ablation: project one direction, or an orthonormalised set, out of the residual
  stream at every layer (resid_pre, resid_mid, resid_post), or hold its coordinates at their
  mean over reference prompts (mean ablation: off-distribution zero is not the only baseline);
- weight orthogonalisation: a new model whose residual writers (embedding, attention and MLP
  outputs) write nothing along the directions; equivalent to the hook ablation.
Hook functions live at module level and are bound with `functools.partial`.
"""

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Literal

import torch
from einops import einsum

from mechrefusal._typing import Float, Tensor
from mechrefusal.analysis.activations import cache_activations
from mechrefusal.engine.hooks import validate_hook
from mechrefusal.engine.live_rows import live_rows
from mechrefusal.engine.shared_prefix import positionwise_hooks

AddPositions = Literal["last", "all"]


def add_vector_hook(
    activation: Float[Tensor, "batch pos d_model"],
    hook,
    *,
    vectors: Float[Tensor, "prompts d_model"] | Float[Tensor, " d_model"],
    positions: AddPositions,
    calls: list[int] | None = None,
) -> Float[Tensor, "batch pos d_model"]:
    """Add `vectors` (already scaled; one per prompt, or one for all) at the last position or at
    every position. Per-prompt vectors are cut to the rows a decoding step runs (`live_rows`).

    With a `calls` counter, only the first forward call is steered (the prompt pass of a
    KV-cached generation); later single-token calls pass through.
    """
    if calls is not None:
        calls[0] += 1
        if calls[0] > 1:
            return activation
    # One vector per prompt: cut to the rows still decoding (`live_rows`).
    delta = (live_rows(vectors) if vectors.ndim == 2 else vectors).to(
        activation.device, activation.dtype
    )
    if positions == "last":
        activation[:, -1] = activation[:, -1] + delta
    else:
        activation = activation + (delta[:, None] if delta.ndim == 2 else delta)
    return activation


def ablate_directions_hook(
    activation: Float[Tensor, "batch pos d_model"],
    hook,
    *,
    basis: Float[Tensor, "n_dirs d_model"],
    means: dict[str, Tensor] | None = None,
) -> Float[Tensor, "batch pos d_model"]:
    """Replace the component of the activation in span(basis) (rows orthonormal) by zero, or
    by the component of the mean activation at this hook (`means[hook.name]`: mean ablation)."""
    basis = basis.to(activation.device, activation.dtype)
    coeffs = einsum(activation, basis, "batch pos d_model, n_dirs d_model -> batch pos n_dirs")
    if means is not None:
        mean = means[hook.name].to(activation.device, activation.dtype)
        coeffs = coeffs - einsum(mean, basis, "d_model, n_dirs d_model -> n_dirs")
    return activation - einsum(
        coeffs, basis, "batch pos n_dirs, n_dirs d_model -> batch pos d_model"
    )


def validate_vectors(model, vectors: torch.Tensor) -> None:
    """Refuse vectors of the wrong width or with NaN / inf, before any hook runs."""
    if vectors.shape[-1] != model.cfg.d_model:
        raise ValueError(
            f"Vector of width {vectors.shape[-1]} does not fit a model with d_model={model.cfg.d_model}."
        )
    if not torch.isfinite(vectors).all():
        raise ValueError("Steering vector contains NaN or inf.")


@contextmanager
def added_vectors(
    model,
    hook: str,
    vectors: Float[Tensor, "batch d_model"] | Float[Tensor, " d_model"],
    *,
    positions: AddPositions = "last",
    first_call_only: bool = False,
) -> Iterator[None]:
    """Within the block, every forward pass (or only the first) adds `vectors` at `hook`."""
    validate_hook(model, hook)
    validate_vectors(model, vectors)
    fn = partial(
        add_vector_hook,
        vectors=vectors,
        positions=positions,
        calls=[0] if first_call_only else None,
    )
    with model.hooks(fwd_hooks=[(hook, fn)]):
        yield


def orthonormal_basis(
    directions: Float[Tensor, "n_dirs d_model"], eps: float = 1e-8
) -> Float[Tensor, "k d_model"]:
    """Orthonormal rows spanning the directions (QR), dropping numerically dependent ones."""
    q, r = torch.linalg.qr(directions.double().T)
    keep = r.diagonal().abs() > eps * r.diagonal().abs().max()
    return q.T[keep].to(directions.dtype)


def residual_hooks(model) -> list[str]:
    """Every residual-stream hook of every layer (where ablation projects)."""
    return [
        f"blocks.{i}.hook_{s}"
        for i in range(model.cfg.n_layers)
        for s in ("resid_pre", "resid_mid", "resid_post")
    ]


AblationMode = Literal["zero", "mean"]


def mean_residuals(
    model, prompts: Sequence[str], *, batch_size: int = 32
) -> dict[str, Float[Tensor, " d_model"]]:
    """Mean residual-stream activation at every residual hook over the real tokens of
    `prompts` (per-prompt token means, averaged): the reference for mean ablation."""
    names = residual_hooks(model)
    acts = cache_activations(
        model, prompts, names, position="mean", batch_size=batch_size, progress=False
    )
    return {n: acts[n].mean(0) for n in names}


@contextmanager
def ablated_directions(
    model,
    directions: Float[Tensor, "n_dirs d_model"] | Float[Tensor, " d_model"],
    *,
    means: dict[str, Tensor] | None = None,
) -> Iterator[None]:
    """Within the block, the residual stream's component along the directions is zero at every
    layer, or (with `means` from `mean_residuals`) fixed at the mean activation's component."""
    directions = directions[None] if directions.ndim == 1 else directions
    validate_vectors(model, directions)
    names = residual_hooks(model)
    if means is not None and set(means) != set(names):
        raise ValueError("means must hold every residual hook (use mean_residuals).")
    fn = partial(ablate_directions_hook, basis=orthonormal_basis(directions), means=means)
    # Each token's residual is projected on its own: a shared chat prefix may run once.
    with positionwise_hooks(model, [(name, fn) for name in names]):
        yield


def _project_out_rows(weight: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Remove span(basis) from the last (d_model) axis of a writer weight."""
    basis = basis.to(weight.dtype)
    return weight - einsum(
        einsum(weight, basis, "... d_model, n d_model -> ... n"),
        basis,
        "... n, n d_model -> ... d_model",
    )


@torch.no_grad()
def orthogonalize_weights_inplace(
    model, directions: Float[Tensor, "n_dirs d_model"] | Float[Tensor, " d_model"]
) -> None:
    """Edit the model so no component writes along the directions (token and learned position
    embeddings, W_O, b_O, W_out, b_out)."""
    directions = directions[None] if directions.ndim == 1 else directions
    validate_vectors(model, directions)
    basis = orthonormal_basis(directions).to(model.embed.W_E.device)
    model.embed.W_E.copy_(_project_out_rows(model.embed.W_E, basis))
    if model.cfg.positional_embedding_type == "standard":  # learned positions write too
        model.pos_embed.W_pos.copy_(_project_out_rows(model.pos_embed.W_pos, basis))
    for block in model.blocks:
        for weight in (block.attn.W_O, block.attn.b_O, block.mlp.W_out, block.mlp.b_out):
            weight.copy_(_project_out_rows(weight, basis))


def orthogonalized_copy(
    model, directions: Float[Tensor, "n_dirs d_model"] | Float[Tensor, " d_model"]
):
    """A new model with the directions orthogonalised out of its weights (the original is untouched)."""
    edited = copy.deepcopy(model)
    orthogonalize_weights_inplace(edited, directions)
    return edited
