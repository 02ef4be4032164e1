"""The steering layer chosen on the choice split by the goal itself (docs/method.md, "Steering
with the study's reader at a layer chosen on dev").

The figures' layer (`analysis.layers`) keeps, among layers whose categories separate, the one
whose push moves the first answer token most; that effect grows toward the output, so the
choice lands on the last residual stream, where a push is close to a logit bias. The paper
steered Llama-3 8B at layer 9 of 32. Here each candidate layer gets its own directions
(direction split) and category probe (probe prompts), routes with one harm reader read at its
own layer (the routing study's choice: which layer tells harmful prompts from look-alikes need
not be the one that steers best), and has both coefficients and the threshold tuned on the
choice split for the goal (`sweeps.tuned_categorical`). The layer whose tuned point best meets
the goal there is chosen; every layer's point is reported.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace

from mechrefusal.analysis.activations import Position
from mechrefusal.analysis.probe import HarmProbe
from mechrefusal.data.prompts import Prompt, check_no_held_out
from mechrefusal.steering.methods import HARMFUL_GRID, STEERING_GRID, Categorical
from mechrefusal.steering.router import Router, fit_router
from mechrefusal.steering.sweeps import GoalPoint, tuned_categorical

LAYER_FRACTIONS = (0.3, 0.5, 0.7)
"""Candidate depths besides the last layer (the paper's layer 9 of 32 is about 0.3)."""


def candidate_layers(n_layers: int, fractions: Sequence[float] = LAYER_FRACTIONS) -> list[int]:
    """Layers at each fraction of the depth, and the last one, without repeats."""
    if n_layers < 1 or not all(0 <= f <= 1 for f in fractions):
        raise ValueError(
            f"Need n_layers >= 1 and fractions in [0, 1] (got {n_layers}, {fractions})."
        )
    return sorted({round(f * (n_layers - 1)) for f in fractions} | {n_layers - 1})


@dataclass(frozen=True)
class HarmReader:
    """A harm probe and where it reads (`Router.with_harm_reader`)."""

    probe: HarmProbe
    layer: int
    position: Position


@dataclass(frozen=True)
class LayerChoice:
    method: Categorical
    """The tuned method at the chosen layer, carrying its own router."""
    layer: int
    outcomes: list[dict]
    """Per candidate layer: its tuned setting and goal point on the choice split."""
    unsteered: GoalPoint
    """The choice split's unsteered point (the same at every layer: no push)."""


def pick_layer(points: dict[int, GoalPoint]) -> int:
    """The layer whose tuned point leaves the fewest contrast prompts not answered; ties go to
    more harmful refusal, the smaller push, then the lower layer. Each point already meets the
    goal's constraints on the choice split (or is the unsteered one)."""
    if not points:
        raise ValueError("No candidate layers.")
    return min(points, key=lambda layer: (*_goal_key(points[layer]), layer))


def _goal_key(point: GoalPoint) -> tuple[float, float, float]:
    return (point.not_answered, -point.refusal, point.push)


def choose_steering_layer(
    model,
    direction: Sequence[Prompt],
    probe_prompts: Sequence[Prompt],
    choice: Sequence[Prompt],
    reader: HarmReader,
    method: Categorical,
    *,
    layers: Sequence[int],
    harmful_grid: Sequence[float] = HARMFUL_GRID,
    benign_grid: Sequence[float] = STEERING_GRID,
    max_refusal_loss: float = 0.03,
    max_capability_loss: float | None = None,
    seed: int = 0,
    batch_size: int = 32,
) -> LayerChoice:
    """Tune `method` at every layer of `layers` on `choice` and keep the layer whose tuned point
    leaves the fewest contrast prompts not answered within the goal's constraints (each layer's
    point already meets them, or is the unsteered one); ties go to more harmful refusal, the
    smaller push, then the lower layer. Directions and probes see `direction` and
    `probe_prompts` only; held-out prompts are refused."""
    check_no_held_out([*direction, *probe_prompts, *choice], "choose_steering_layer")
    if not layers:
        raise ValueError("No candidate layers.")
    outcomes, tuned_at, unsteered = [], {}, None
    for layer in sorted(layers):
        router: Router = fit_router(
            model, direction, layer=layer, probe_prompts=probe_prompts, seed=seed, progress=False
        ).with_harm_reader(reader.probe, layer=reader.layer, position=reader.position)
        tuned, point, unsteered = tuned_categorical(
            model,
            router,
            choice,
            replace(method, own_router=router),
            harmful_grid=harmful_grid,
            benign_grid=benign_grid,
            max_refusal_loss=max_refusal_loss,
            max_capability_loss=max_capability_loss,
            batch_size=batch_size,
        )
        outcomes.append({"layer": layer, "hook": router.hook, **point.to_dict()})
        tuned_at[layer] = (tuned, point)
    layer = pick_layer({layer: point for layer, (_, point) in tuned_at.items()})
    return LayerChoice(
        method=tuned_at[layer][0], layer=layer, outcomes=outcomes, unsteered=unsteered
    )
