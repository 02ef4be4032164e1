"""Layer sweep: where categories are separable and where steering acts (docs/method.md, "Figures").

One caching pass reads `resid_post` of every layer at the last prompt position of the
direction split. Per layer we report
- held-out accuracy of linear probes on the category label (harmful prompts) and on
  harmful-vs-benign, where "held out" means *unseen templates* (a third of the direction
  split's templates), because routing must generalise to new phrasings;
- each category direction's norm relative to the mean activation norm;
- the steering effect: the mean drop of the refusal logit gap on contrast prompts when their
  category's direction is subtracted (coefficient 1.2 x mean norm, the paper's -6 / 5).
`choose_layer` turns this into the default layer of the other figures, with the reason.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import torch

from mechrefusal.analysis.activations import Position, cache_activations
from mechrefusal.analysis.directions import diff_in_means, unit
from mechrefusal.analysis.interventions import add_vector_hook
from mechrefusal.analysis.probe import accuracy, train_probe
from mechrefusal.categories import CATEGORIES
from mechrefusal.data.prompts import Prompt
from mechrefusal.engine.generation import BatchPlan, reused_prefix
from mechrefusal.engine.hooks import hook_name
from mechrefusal.scoring.evaluation import refusal_logit_gap

EFFECT_COEF = -1.2


@dataclass(frozen=True)
class LayerSweepResult:
    layers: list[int]
    category_accuracy: list[float]
    """5-way probe on harmful prompts, accuracy on held-out templates."""
    harm_accuracy: list[float]
    """Harmful-vs-benign probe, accuracy on held-out templates."""
    relative_norm: dict[str, list[float]]
    """||v_c|| / mean activation norm, per category, per layer."""
    steering_effect: list[float]
    """Mean drop of the refusal logit gap on contrast prompts under a -1.2 x norm push."""
    chosen_layer: int
    reason: str

    def to_dict(self) -> dict:
        return vars(self)


def choose_layer(
    layers: list[int],
    category_accuracy: list[float],
    harm_accuracy: list[float],
    steering_effect: list[float],
    *,
    tolerance: float = 0.02,
) -> tuple[int, str]:
    """Among layers within `tolerance` of the best mean probe accuracy, the largest steering effect.

    Routing needs separability that generalises to new templates; among layers that have it,
    the one where the same push moves the refusal decision most makes the best steering site.
    """
    score = [(a + b) / 2 for a, b in zip(category_accuracy, harm_accuracy, strict=True)]
    best = max(score)
    good = [layer for layer, s in zip(layers, score, strict=True) if s >= best - tolerance]
    chosen = max(good, key=lambda layer: steering_effect[layers.index(layer)])
    return chosen, (
        f"largest steering effect ({steering_effect[layers.index(chosen)]:.2f} logits) among layers whose "
        f"mean held-out-template probe accuracy is within {tolerance:.2f} of the best ({best:.3f}): "
        f"layers {good}"
    )


def _held_out_templates(prompts: Sequence[Prompt]) -> torch.Tensor:
    """Mask of prompts whose template is in the held-out third (every third distinct template)."""
    templates = sorted({p.template for p in prompts})
    held = {t for i, t in enumerate(templates) if i % 3 == 2}
    mask = torch.tensor([p.template in held for p in prompts])
    if (
        mask.all() or not mask.any()
    ):  # user prompt sets without template ids: fall back to every third prompt
        mask = torch.arange(len(prompts)) % 3 == 2
    return mask


def _held_out_accuracy(
    acts: torch.Tensor, labels: torch.Tensor, held: torch.Tensor, n_classes: int, seed: int
) -> float:
    probe = train_probe(acts[~held], labels[~held], n_classes=n_classes, seed=seed)
    return accuracy(probe, acts[held], labels[held])


def _steering_effect(
    model,
    hook: str,
    contrast: dict[str, list[str]],
    before: dict[str, torch.Tensor],
    vectors: dict[str, torch.Tensor],
    norm: float,
) -> float:
    """Mean drop of the refusal logit gap on each category's contrast prompts when that
    category's direction is subtracted at `hook` (`before`: the unsteered gaps, layer-free)."""
    drops = []
    for c, vector in vectors.items():
        if not contrast.get(c):
            continue
        push = partial(add_vector_hook, vectors=EFFECT_COEF * norm * unit(vector), positions="last")
        plan = BatchPlan(hooks=[(hook, push)], tail=1, live_rows_aware=True)  # stateless
        gap = refusal_logit_gap(model, contrast[c], plan=lambda *_, plan=plan: plan)
        drops.append((before[c] - gap).mean())
    return float(torch.stack(drops).mean()) if drops else float("nan")


def layer_sweep(
    model,
    prompts: Sequence[Prompt],
    *,
    position: Position = "last",
    seed: int = 0,
    progress: bool = True,
) -> LayerSweepResult:
    """Separability, direction norms and steering effect at every layer's resid_post.

    The steering effects run inside `reused_prefix(walk_up=True)`: layer L's residual is the
    memoised L - 1 one plus a block, and only the blocks after L run per push."""
    harmful = [p for p in prompts if p.kind == "harmful" and p.category is not None]
    benign = [p for p in prompts if p.kind in ("benign", "contrast")]
    contrast = [p for p in benign if p.kind == "contrast"]
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
    held_harm, held_all = _held_out_templates(harmful), _held_out_templates(harmful + benign)
    present = [c for c in CATEGORIES if (cat_labels == CATEGORIES.index(c)).any()]
    cat_acc, harm_acc, effect = [], [], []
    rel_norm: dict[str, list[float]] = {c: [] for c in present}
    by_category = {c: [p.prompt for p in contrast if p.category == c] for c in present}
    by_category = {c: texts for c, texts in by_category.items() if texts}
    with reused_prefix(model, walk_up=True):
        before = {c: refusal_logit_gap(model, texts) for c, texts in by_category.items()}
        for name in names:
            a = acts[name]
            cat_acc.append(
                _held_out_accuracy(a[: len(harmful)], cat_labels, held_harm, len(CATEGORIES), seed)
            )
            harm_acc.append(_held_out_accuracy(a, harm_labels, held_all, 2, seed))
            scale = float(a.norm(dim=-1).mean())
            vectors = {
                c: diff_in_means(
                    a[: len(harmful)][cat_labels == CATEGORIES.index(c)], a[len(harmful) :]
                )
                for c in present
            }
            for c in present:
                rel_norm[c].append(float(vectors[c].norm()) / scale)
            effect.append(_steering_effect(model, name, by_category, before, vectors, scale))
    chosen, reason = choose_layer(layers, cat_acc, harm_acc, effect)
    return LayerSweepResult(
        layers=layers,
        category_accuracy=cat_acc,
        harm_accuracy=harm_acc,
        relative_norm=rel_norm,
        steering_effect=effect,
        chosen_layer=chosen,
        reason=reason,
    )
