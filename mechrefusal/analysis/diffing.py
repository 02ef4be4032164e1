"""Model diffing: the same prompts and hook in the base and the refusal-token model (docs/method.md, "Other analyses").

Per category, the cosine similarity of the two models' sparse directions, with what the paper
lacked (docs/method.md, "Differences from the original code"): bootstrap 95% intervals over prompts, a null of random directions of
the same sparsity, a shuffled-category-label null (base directions built from harmful prompts
whose category labels are permuted), and a split-half ceiling (the refusal model against itself
on two halves of the prompts). Activations are cached once per model; every resample reuses them.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mechrefusal._typing import Float, Tensor
from mechrefusal.analysis.activations import Position, cache_activations
from mechrefusal.analysis.directions import diff_in_means, resolve_k, sparsify
from mechrefusal.categories import CATEGORIES, Category
from mechrefusal.data.chat import PromptFormat
from mechrefusal.data.prompts import Prompt
from mechrefusal.engine.hooks import Site, resolve_hook


@dataclass(frozen=True)
class DiffingResult:
    """Base-vs-refusal-model cosine per category, with intervals and nulls (lists in category order)."""

    categories: list[str]
    cosine: list[float]
    """Cosine of the sparse (top-k, unit) directions: the paper's Table 1 quantity."""
    cosine_dense: list[float]
    ci_low: list[float]
    ci_high: list[float]
    random_null_p95: list[float]
    shuffled_null_p05: list[float]
    shuffled_null_p95: list[float]
    split_half: list[float]
    """Refusal model vs itself on disjoint halves: how high the cosine can be given sampling noise."""
    below_shuffled_null_p95: list[bool]
    hook: str
    layer: int
    k: int
    fmt: str

    def to_dict(self) -> dict:
        return vars(self)


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a @ b) / (a.norm() * b.norm()).clamp_min(1e-12))


def _direction(harm: torch.Tensor, benign: torch.Tensor, k: int, tau: float) -> torch.Tensor:
    return sparsify(diff_in_means(harm, benign), k=k, tau=tau)


def _random_sparse(
    d_model: int, k: int, n: int, gen: torch.Generator
) -> Float[Tensor, "n d_model"]:
    out = torch.zeros(n, d_model)
    for i in range(n):
        idx = torch.randperm(d_model, generator=gen)[:k]
        out[i, idx] = torch.randn(k, generator=gen)
    return out / out.norm(dim=-1, keepdim=True)


def _quantile(values: list[float], q: float) -> float:
    return float(torch.tensor(values).quantile(q))


def diff_models(
    base,
    refusal,
    prompts: Sequence[Prompt],
    *,
    layer: int,
    site: Site = "resid_post",
    position: Position = "last",
    fmt: PromptFormat = "raw",
    k: int | None = None,
    k_fraction: float | None = None,
    tau: float = 1e-3,
    n_resamples: int = 200,
    seed: int = 0,
    progress: bool = True,
) -> DiffingResult:
    """Compare category directions of two models of the same width on the same prompts.

    `fmt='raw'` (BOS + prompt) by default: the base model has no chat format, and the paper's
    diffing ran both models on raw prompts.
    """
    if base.cfg.d_model != refusal.cfg.d_model:
        raise ValueError(
            f"Models differ in width ({base.cfg.d_model} vs {refusal.cfg.d_model}); cannot diff."
        )
    hook, layer = resolve_hook(refusal, layer=layer, site=site)
    resolve_hook(base, layer=layer, site=site)
    k = resolve_k(refusal.cfg.d_model, k=k, k_fraction=k_fraction)
    harmful = [p for p in prompts if p.kind == "harmful" and p.category is not None]
    benign = [p for p in prompts if p.kind in ("benign", "contrast")]
    if not harmful or not benign:
        raise ValueError("Empty prompt set: diffing needs harmful and benign/contrast prompts.")
    texts = [p.prompt for p in harmful + benign]
    acts = {
        name: cache_activations(m, texts, [hook], position=position, fmt=fmt, progress=progress)[
            hook
        ]
        for name, m in (("base", base), ("refusal", refusal))
    }
    labels = torch.tensor([CATEGORIES.index(p.category) for p in harmful])  # type: ignore[arg-type]
    n_h = len(harmful)
    cats: list[Category] = [c for i, c in enumerate(CATEGORIES) if (labels == i).any()]
    gen = torch.Generator().manual_seed(seed)
    rows: dict[str, list] = {
        key: []
        for key in DiffingResult.__dataclass_fields__
        if key not in ("hook", "layer", "k", "fmt")
    }
    for c in cats:
        i = CATEGORIES.index(c)
        mask = labels == i
        per = {m: (a[:n_h][mask], a[n_h:]) for m, a in acts.items()}
        v_ref = _direction(*per["refusal"], k, tau)
        v_base = _direction(*per["base"], k, tau)
        rows["categories"].append(c)
        rows["cosine"].append(_cos(v_ref, v_base))
        rows["cosine_dense"].append(
            _cos(diff_in_means(*per["refusal"]), diff_in_means(*per["base"]))
        )
        boots = _bootstrap(per, k, tau, n_resamples, gen)
        rows["ci_low"].append(_quantile(boots, 0.025))
        rows["ci_high"].append(_quantile(boots, 0.975))
        rand = _random_sparse(refusal.cfg.d_model, k, n_resamples, gen) @ v_ref
        rows["random_null_p95"].append(_quantile(rand.abs().tolist(), 0.95))
        shuffled = _shuffled_null(
            acts["base"][:n_h], acts["base"][n_h:], int(mask.sum()), v_ref, k, tau, n_resamples, gen
        )
        rows["shuffled_null_p05"].append(_quantile(shuffled, 0.05))
        rows["shuffled_null_p95"].append(_quantile(shuffled, 0.95))
        rows["split_half"].append(_split_half(*per["refusal"], k, tau, gen))
        rows["below_shuffled_null_p95"].append(rows["cosine"][-1] < rows["shuffled_null_p95"][-1])
    return DiffingResult(**rows, hook=hook, layer=layer, k=k, fmt=fmt)


def _bootstrap(per: dict, k: int, tau: float, n: int, gen: torch.Generator) -> list[float]:
    """Resample prompts (the same indices in both models) and recompute the cosine."""
    (h_ref, b_ref), (h_base, b_base) = per["refusal"], per["base"]
    out = []
    for _ in range(n):
        hi = torch.randint(len(h_ref), (len(h_ref),), generator=gen)
        bi = torch.randint(len(b_ref), (len(b_ref),), generator=gen)
        out.append(
            _cos(
                _direction(h_ref[hi], b_ref[bi], k, tau), _direction(h_base[hi], b_base[bi], k, tau)
            )
        )
    return out


def _shuffled_null(
    base_harm, base_benign, size: int, v_ref, k: int, tau: float, n: int, gen
) -> list[float]:
    """Cosine of the refusal direction with base directions from random harmful prompts of any category."""
    out = []
    for _ in range(n):
        idx = torch.randperm(len(base_harm), generator=gen)[:size]
        out.append(_cos(v_ref, _direction(base_harm[idx], base_benign, k, tau)))
    return out


def _split_half(harm, benign, k: int, tau: float, gen) -> float:
    hp, bp = torch.randperm(len(harm), generator=gen), torch.randperm(len(benign), generator=gen)
    h1, h2 = hp[: len(hp) // 2], hp[len(hp) // 2 :]
    b1, b2 = bp[: len(bp) // 2], bp[len(bp) // 2 :]
    if min(len(h1), len(h2), len(b1), len(b2)) == 0:
        return float("nan")
    return _cos(_direction(harm[h1], benign[b1], k, tau), _direction(harm[h2], benign[b2], k, tau))
