"""The field's router-free anchor: false-refusal vector ablation (Wang, Hu, Röttger and Plank,
ICLR 2025, "Surgical, Cheap, and Flexible"; docs/method.md, "Steering methods compared").

A *false-refusal* vector is the difference in means between look-alike prompts (contrast) and
harmless ones (benign); the *true* refusal vector is harmful minus benign. The false vector is
orthogonalised against the true one, partially, with a coefficient `lam` (1: fully, so the
ablation cannot touch the true refusal direction; 0: not at all), and its unit direction is
projected out of the residual stream at every layer and position. No router decides anything,
and the same edit is written into the weights (`interventions.orthogonalize_weights_inplace`):
the method answers with that edited copy, so it costs nothing at inference. The layer the vectors are read at and `lam` are choices:
`tune_false_refusal` makes them on the dev split, for the goal.
"""

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import ClassVar

import torch
from jaxtyping import Float
from torch import Tensor

from mechrefusal._progress import tqdm
from mechrefusal.analysis.activations import cache_activations
from mechrefusal.analysis.directions import unit
from mechrefusal.analysis.interventions import (
    ablate_directions_hook,
    orthogonalized_copy,
    residual_hooks,
)
from mechrefusal.data.prompts import Prompt, check_no_held_out
from mechrefusal.engine.generation import BatchPlan
from mechrefusal.engine.hooks import resolve_hook
from mechrefusal.steering.comparison import reusing_prefix
from mechrefusal.steering.router import Router
from mechrefusal.steering.sweeps import (
    SweepPoint,
    pick_for_goal,
    sweep_answers,
    sweep_method,
    sweep_prompts,
)

LAMBDA_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Partial-orthogonalisation coefficients tried (Wang et al. tune it to calibrate)."""


def candidate_layers(n_layers: int) -> list[int]:
    """Read-out layers tried when tuning (Wang et al. choose the layer on validation prompts
    too): half and three quarters of the depth. On SmolLM2's dev split a sweep that also tried
    a quarter of the depth and the last block gave those two the worst trade-offs (fewest
    look-alikes answered at any harmful refusal within 3 points), so they were dropped to halve
    the tuning time."""
    return sorted({max(0, round(f * n_layers) - 1) for f in (0.5, 0.75)})


@dataclass(frozen=True)
class RefusalMeans:
    """Difference-in-means vectors at one hook, from the direction split."""

    hook: str
    false: Float[Tensor, " d_model"]
    """Mean over contrast (look-alike) prompts minus mean over benign prompts."""
    true: Float[Tensor, " d_model"]
    """Mean over harmful prompts minus mean over benign prompts."""

    def direction(self, lam: float) -> Float[Tensor, " d_model"]:
        """Unit false-refusal direction with `lam` of its component along the true one removed."""
        true = unit(self.true)
        return unit(self.false - lam * (self.false @ true) * true)


def refusal_means(
    model, prompts: Sequence[Prompt], layers: Sequence[int], *, batch_size: int = 32
) -> dict[int, RefusalMeans]:
    """The false- and true-refusal vectors at each layer's resid_post, last prompt position, in
    one pass over `prompts` (the direction split: never eval)."""
    check_no_held_out(prompts, "false-refusal vectors")
    groups = {
        kind: [p.prompt for p in prompts if p.kind == kind]
        for kind in ("harmful", "contrast", "benign")
    }
    empty = [kind for kind, texts in groups.items() if not texts]
    if empty:
        raise ValueError(
            f"False-refusal vectors need harmful, contrast and benign prompts; none of: {', '.join(empty)}."
        )
    hooks = [resolve_hook(model, layer=layer, site="resid_post")[0] for layer in layers]
    texts = [t for kind in ("harmful", "contrast", "benign") for t in groups[kind]]
    acts = cache_activations(model, texts, hooks, batch_size=batch_size, progress=False)
    n_h, n_c = len(groups["harmful"]), len(groups["contrast"])
    out = {}
    for layer, hook in zip(layers, hooks, strict=True):
        a = acts[hook].float()
        harmful, contrast, benign = (
            a[:n_h].mean(0),
            a[n_h : n_h + n_c].mean(0),
            a[n_h + n_c :].mean(0),
        )
        out[layer] = RefusalMeans(hook=hook, false=contrast - benign, true=harmful - benign)
    return out


_EDITED: dict = {}
"""The one edited copy kept: (weak reference to the source model, edit key, edited model)."""


def release_edited_copies() -> None:
    """Drop the edited copy `answering_model` keeps (a whole model: ~540 MB for SmolLM2)."""
    _EDITED.clear()


@dataclass(frozen=True)
class FalseRefusalAblation:
    """Project the partially orthogonalised false-refusal direction out of every residual
    stream position of every layer. `strength` 1 ablates, 0 leaves the model alone (the
    unsteered point the tuning holds the goal's constraints to)."""

    means: RefusalMeans = field(compare=False, hash=False, repr=False)
    lam: float = 1.0
    strength: float = 1.0
    name: str = "false-refusal ablation (Wang et al.)"
    random_seed: int | None = None
    """The control: a seeded random unit direction ablated the same way (every layer)."""
    kind: ClassVar[str] = "ablation"

    @property
    def pushes_nothing(self) -> bool:
        return self.strength == 0  # off: `answering_model` is the model itself, no hooks

    def __post_init__(self) -> None:
        if self.strength not in (0.0, 1.0):
            raise ValueError("An ablation is on (strength 1) or off (0); tune `lam` instead.")

    def direction(self) -> Float[Tensor, " d_model"]:
        """The unit direction ablated: the partially orthogonalised false-refusal one, or the
        control's random one."""
        if self.random_seed is None:
            return self.means.direction(self.lam)
        generator = torch.Generator().manual_seed(self.random_seed)
        return unit(torch.randn(self.means.false.shape[0], generator=generator))

    def random_control(self, seed: int = 0) -> "FalseRefusalAblation":
        """A random direction ablated at every layer like this one (same layers, positions)."""
        return replace(self, name=f"random direction, {self.name}", random_seed=seed)

    def ablation_hooks(self, model) -> list:
        """The ablation as hooks: the direction projected out at every residual hook."""
        basis = self.direction()[None].to(next(model.parameters()).device)
        fn = partial(ablate_directions_hook, basis=basis)
        return [(name, fn) for name in residual_hooks(model)]

    def answering_model(self, model):
        """The model that answers: a copy of `model` with the direction orthogonalised out of
        every weight that writes to the residual stream, which equals ablating it at every
        layer and position (tested against `ablation_hooks`) and is what `mechrefusal export`
        writes. With no hooks, the copy runs the shared chat header once per batch. One copy
        is kept at a time; `model` itself when the ablation is off."""
        if self.strength == 0:
            return model
        key = (self.lam, self.means.hook, self.random_seed)
        held = _EDITED.get("entry")
        if held is None or held[0]() is not model or held[1] != key:
            _EDITED.clear()  # free the previous copy before making the next
            edited = orthogonalized_copy(
                model, self.direction().to(next(model.parameters()).device)
            )
            _EDITED["entry"] = (weakref.ref(model), key, edited)
        return _EDITED["entry"][2]

    def plan(self, model, router: Router | None, prompts, tokens, mask) -> BatchPlan:
        return BatchPlan()  # the edit is in `answering_model`'s weights

    def at_strength(self, strength: float) -> "FalseRefusalAblation":
        return replace(self, strength=strength)

    def describe(self) -> dict:
        """Off (strength 0), nothing is read or orthogonalised: `lam` and `read_at` are None."""
        on = self.strength != 0
        return {
            "name": self.name,
            "kind": self.kind,
            "strength": self.strength,
            "lam": self.lam if on else None,
            "read_at": self.means.hook if on else None,
            "random_seed": self.random_seed,
        }


@dataclass(frozen=True)
class FalseRefusalTuning:
    """What `tune_false_refusal` chose, with every point it scored on the choice split."""

    method: FalseRefusalAblation
    points: list[dict]


@reusing_prefix
def tune_false_refusal(
    model,
    router: Router | None,
    prompts: Sequence[Prompt],
    means: dict[int, RefusalMeans],
    *,
    lambdas: Sequence[float] | None = None,
    max_capability_loss: float | None = 0.02,
    batch_size: int = 32,
) -> FalseRefusalTuning:
    """The read-out layer and `lam` chosen for the goal (`sweeps.pick_for_goal`: fewest
    contrast prompts not answered, harmful refusal within 3 points of the unablated model and,
    where `prompts` has checkable tasks and `max_capability_loss` is set, capability within it)
    on `prompts`: the dev split, held out from the direction split the vectors come from.
    `lambdas` default to `LAMBDA_GRID`; no router is needed (the ablation routes nothing)."""
    check_no_held_out(prompts, "tune_false_refusal")
    lambdas = LAMBDA_GRID if lambdas is None else lambdas
    capability = max_capability_loss is not None and any(p.answer is not None for p in prompts)
    first = next(iter(means.values()))
    off = FalseRefusalAblation(means=first, strength=0.0)
    # Every candidate's paired changes are against the unablated model's answers.
    reference = sweep_answers(
        model, router, sweep_prompts(prompts), off, capability=capability, batch_size=batch_size
    )
    sweep = partial(
        sweep_method,
        model,
        router,
        prompts,
        batch_size=batch_size,
        capability=capability,
        reference=reference,
    )
    candidates: list[tuple[FalseRefusalAblation, SweepPoint]] = [(off, sweep(off, [0.0])[0])]
    grid = [FalseRefusalAblation(means=m, lam=lam) for m in means.values() for lam in lambdas]
    # Each candidate answers with its own edited copy of the model, made once.
    for method in tqdm(grid, desc="false-refusal ablation: layer x lam", leave=False):
        candidates.append((method, sweep(method, [1.0])[0]))
    best = pick_for_goal(
        [p for _, p in candidates], max_capability_loss=max_capability_loss if capability else None
    )
    chosen = next(m for m, p in candidates if p is best)
    release_edited_copies()  # the chosen edit is remade when it answers; the last one may be big
    described = [(m.describe(), p) for m, p in candidates]
    points = [{"read_at": d["read_at"], "lam": d["lam"], **p.to_dict()} for d, p in described]
    return FalseRefusalTuning(method=chosen, points=points)
