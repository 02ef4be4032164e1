"""Layer sweep: where categories are separable and how large each direction is (DESIGN §6 fig 9).

One caching pass reads `resid_post` of every layer at the last prompt position; per layer we
report held-out linear-probe accuracy on the category label (harmful prompts), on
harmful-vs-benign, and each category direction's norm relative to the mean activation norm.
`choose_layer` turns this into the default layer of the other figures, with the reason.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mechrefusal.activations import Position, cache_activations
from mechrefusal.categories import CATEGORIES
from mechrefusal.directions import diff_in_means
from mechrefusal.geometry import probe_separability
from mechrefusal.hooks import hook_name
from mechrefusal.prompts import Prompt


@dataclass(frozen=True)
class LayerSweepResult:
    layers: list[int]
    category_accuracy: list[float]
    """Held-out accuracy of a 5-way linear probe on harmful prompts' categories."""
    harm_accuracy: list[float]
    """Held-out accuracy of a harmful-vs-benign linear probe."""
    relative_norm: dict[str, list[float]]
    """||v_c|| / mean activation norm, per category, per layer."""
    chosen_layer: int
    reason: str

    def to_dict(self) -> dict:
        return vars(self)


def choose_layer(
    layers: list[int],
    category_accuracy: list[float],
    harm_accuracy: list[float],
    *,
    tolerance: float = 0.02,
) -> tuple[int, str]:
    """Earliest layer within `tolerance` of the best mean of the two probe accuracies.

    Earliest, because a steering vector added early has the most downstream computation to act
    on (the paper's ~30% depth), and separability that is already there need not be waited for.
    """
    score = [(a + b) / 2 for a, b in zip(category_accuracy, harm_accuracy, strict=True)]
    best = max(score)
    chosen = next(layer for layer, s in zip(layers, score, strict=True) if s >= best - tolerance)
    return chosen, (
        f"earliest layer whose mean probe accuracy (category, harmful-vs-benign) is within "
        f"{tolerance:.2f} of the best ({best:.3f}): layer {chosen} scores "
        f"{score[layers.index(chosen)]:.3f}"
    )


def layer_sweep(
    model,
    prompts: Sequence[Prompt],
    *,
    position: Position = "last",
    seed: int = 0,
    progress: bool = True,
) -> LayerSweepResult:
    """Separability and direction norms at every layer's resid_post."""
    harmful = [p for p in prompts if p.kind == "harmful" and p.category is not None]
    benign = [p for p in prompts if p.kind in ("benign", "contrast")]
    if not harmful or not benign:
        raise ValueError(
            "Empty prompt set: the layer sweep needs harmful and benign/contrast prompts."
        )
    layers = list(range(model.cfg.n_layers))
    names = [hook_name("resid_post", layer) for layer in layers]
    acts = cache_activations(
        model, [p.prompt for p in harmful + benign], names, position=position, progress=progress
    )
    cat_labels = torch.tensor([CATEGORIES.index(p.category) for p in harmful])  # type: ignore[arg-type]
    harm_labels = torch.cat([torch.ones(len(harmful)), torch.zeros(len(benign))]).long()
    cat_acc, harm_acc = [], []
    rel_norm: dict[str, list[float]] = {
        c: [] for c in CATEGORIES if (cat_labels == CATEGORIES.index(c)).any()
    }
    for name in names:
        a = acts[name]
        cat_acc.append(probe_separability(a[: len(harmful)], cat_labels, seed=seed))
        harm_acc.append(probe_separability(a, harm_labels, seed=seed))
        scale = float(a.norm(dim=-1).mean())
        for c in rel_norm:
            mask = cat_labels == CATEGORIES.index(c)
            rel_norm[c].append(
                float(diff_in_means(a[: len(harmful)][mask], a[len(harmful) :]).norm()) / scale
            )
    chosen, reason = choose_layer(layers, cat_acc, harm_acc)
    return LayerSweepResult(
        layers=layers,
        category_accuracy=cat_acc,
        harm_accuracy=harm_acc,
        relative_norm=rel_norm,
        chosen_layer=chosen,
        reason=reason,
    )
