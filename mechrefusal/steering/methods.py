"""Ways of answering a prompt set, behind one small protocol (docs/method.md, "Steering methods compared").

Every method turns a batch into a `BatchPlan` (hooks, a first-step logit bias, a record of its
decisions). `plan` is called once per batch, so per-batch state (call counters, routing) can
never leak from one batch into the next, and adding a method is adding one class:

- `Unsteered`: the model as it is;
- `LogitBias`: a constant on the refusal-token logits of the first answer token (the
  refusal-tokens paper's control);
- `GlobalDirection`: a fixed push along the single (all-categories) refusal direction;
- `Categorical`: per-prompt category vectors under a routing policy (steering.py);
- `RandomControl`: categorical steering with random directions of the same norms and sparsity
  (docs/method.md, "Steering methods compared"): what any vector of that size does, routed the same way.

Other estimators of the vectors (ridge regression, the low-rank whitened combination) are
`Categorical` with their own `directions`: same routing, same coefficients, only the vectors
differ, so their comparison isolates the estimator.

`positions` ("prompt" or "prompt_and_generated") says where vectors are added: the paper's code
adds at every generated token; "prompt" steers only the prompt pass (the first answer token
reads it, later tokens see it through the KV cache).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import ClassVar, Literal, Protocol, runtime_checkable

from mechrefusal.analysis.directions import DirectionSet, random_directions
from mechrefusal.analysis.interventions import add_vector_hook, validate_vectors
from mechrefusal.data.prompts import Prompt
from mechrefusal.engine.generation import BatchPlan
from mechrefusal.steering.lowrank import LowRankConfig, LowRankSteering, train_low_rank
from mechrefusal.steering.ridge import fit_ridge_directions
from mechrefusal.steering.router import Router, SteeringConfig, categorical_plan, refusal_logit_bias

BIAS_GRID = (0.0, -2.0, -4.0, -8.0, -12.0, -16.0, -24.0)
"""Logit-bias strengths tried when tuning or sweeping (logit units)."""
STEERING_GRID = (0.0, -0.25, -0.5, -0.75, -1.0, -1.5, -2.0)
"""Steering strengths tried (x the mean activation norm)."""
HARMFUL_GRID = (0.0, 0.1, 0.2, 0.4, 0.8)
"""Harmful-side coefficients tried when tuning categorical steering (the paper's +0.8 last).
0 is in the grid: where the unsteered model already refuses harmful prompts, a push towards
refusal only costs the look-alikes the harm probe misroutes; and past some push a model stops
refusing (SmolLM2 at +0.8 answers with junk tokens)."""

StepPositions = Literal["prompt", "prompt_and_generated"]
PAPER_POSITIONS: StepPositions = "prompt_and_generated"
"""The paper's code adds the vector at the last position of every forward call."""


def push_plan(hook: str, vector, positions: StepPositions) -> BatchPlan:
    """A plan adding the same `vector` to every row at the last position of the prompt pass
    (`positions="prompt"`) or of every forward call (the prompt and each generated token)."""
    fn = partial(
        add_vector_hook,
        vectors=vector,
        positions="last",
        calls=[0] if positions == "prompt" else None,
    )
    return BatchPlan(hooks=[(hook, fn)], tail=1, live_rows_aware=True)


@runtime_checkable
class AnswerMethod(Protocol):
    """What the comparison loop needs from a method."""

    name: str
    kind: ClassVar[str]

    @property
    def strength(self) -> float: ...

    @property
    def pushes_nothing(self) -> bool:
        """Answers exactly as the unsteered model does (no hook, no bias, no edit), so a
        comparison reuses the unsteered answers instead of answering again."""
        ...

    def plan(self, model, router: Router, prompts: Sequence[Prompt], tokens, mask) -> BatchPlan: ...

    def at_strength(self, strength: float) -> "AnswerMethod": ...

    def describe(self) -> dict: ...


def _describe(method, **extra) -> dict:
    return {"name": method.name, "kind": method.kind, "strength": method.strength, **extra}


@dataclass(frozen=True)
class Unsteered:
    name: str = "unsteered"
    kind: ClassVar[str] = "baseline"
    strength: float = 0.0
    pushes_nothing: ClassVar[bool] = True

    def plan(self, model, router, prompts, tokens, mask) -> BatchPlan:
        return BatchPlan()

    def at_strength(self, strength: float) -> "Unsteered":
        return self

    def describe(self) -> dict:
        return _describe(self)


@dataclass(frozen=True)
class LogitBias:
    """`strength` is added to the five refusal-token logits at the first answer position."""

    name: str = "logit bias"
    strength: float = 0.0
    kind: ClassVar[str] = "logit_bias"

    @property
    def pushes_nothing(self) -> bool:
        return self.strength == 0

    def plan(self, model, router, prompts, tokens, mask) -> BatchPlan:
        bias = refusal_logit_bias(model.tokenizer, model.cfg.d_vocab, self.strength)
        return BatchPlan(first_logit_bias=bias)

    def at_strength(self, strength: float) -> "LogitBias":
        return replace(self, strength=strength)

    def describe(self) -> dict:
        return _describe(self)


@dataclass(frozen=True)
class GlobalDirection:
    """`strength` x mean activation norm along the global refusal direction, for every prompt."""

    name: str = "global direction"
    strength: float = 0.0
    positions: StepPositions = PAPER_POSITIONS
    kind: ClassVar[str] = "global"

    @property
    def pushes_nothing(self) -> bool:
        return self.strength == 0

    def plan(self, model, router, prompts, tokens, mask) -> BatchPlan:
        vector = self.strength * router.act_norm * router.directions.global_unit()
        validate_vectors(model, vector)
        return push_plan(router.hook, vector, self.positions)

    def at_strength(self, strength: float) -> "GlobalDirection":
        return replace(self, strength=strength)

    def describe(self) -> dict:
        return _describe(self, positions=self.positions)


@dataclass(frozen=True)
class Categorical:
    """Probe-, token- or oracle-routed category vectors; `strength` is the benign coefficient."""

    name: str = "categorical (probe)"
    steering: SteeringConfig = field(default_factory=SteeringConfig)
    directions: DirectionSet | None = field(default=None, compare=False, hash=False)
    """Vectors to steer with instead of the router's difference-in-means ones (same routing)."""
    own_router: Router | None = field(default=None, compare=False, hash=False)
    """A router to route and steer with instead of the one a comparison passes (another
    steering layer, another harm reader: `steering.layer_choice`)."""
    kind: ClassVar[str] = "categorical"
    pushes_nothing: ClassVar[bool] = False
    """Even at zero coefficients its plan hooks the model (the answers then differ from the
    unsteered ones by float rounding at most), so it is always answered."""

    @property
    def strength(self) -> float:
        return self.steering.benign_coef

    def router_for(self, router: Router) -> Router:
        router = self.own_router or router
        if self.directions is None:
            return router
        if self.directions.hook != router.hook:
            raise ValueError(
                f"{self.name}: directions at {self.directions.hook}, router at {router.hook}."
            )
        return replace(router, directions=self.directions)

    def plan(self, model, router, prompts, tokens, mask) -> BatchPlan:
        return categorical_plan(
            model, self.router_for(router), self.steering, prompts, tokens, mask
        )

    def at_strength(self, strength: float) -> "Categorical":
        return replace(self, steering=replace(self.steering, benign_coef=strength))

    def at_harmful_coef(self, coef: float) -> "Categorical":
        return replace(self, steering=replace(self.steering, harmful_coef=coef))

    def describe(self) -> dict:
        vectors = (
            "difference in means"
            if self.directions is None
            else self.directions.metadata.get("method", "given")
        )
        own = self.own_router
        routed_by = (
            {}
            if own is None
            else {
                "router": {
                    "hook": own.hook,
                    "harm_hook": own.harm_hook,
                    "probe_position": own.probe_position,
                    "harm_reader": own.harm_probe.provenance.get("reader", "probe"),
                }
            }
        )
        return _describe(self, steering=vars(self.steering), vectors=vectors, **routed_by)


@dataclass(frozen=True)
class RandomControl(Categorical):
    """Categorical steering with seeded random directions of the same norms and sparsity."""

    name: str = "random-vector control"
    seed: int = 0
    kind: ClassVar[str] = "random_control"

    def router_for(self, router: Router) -> Router:
        mine = super().router_for(router)
        return replace(mine, directions=random_directions(mine.directions, seed=self.seed))

    def describe(self) -> dict:
        return {**super().describe(), "seed": self.seed}


def low_rank_method(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    config: LowRankConfig | None = None,
    *,
    name: str | None = None,
    steering: SteeringConfig | None = None,
) -> tuple[Categorical, LowRankSteering]:
    """Categorical steering with the low-rank whitened vector trained on `prompts` (covariance
    and training: pass the direction split, never eval)."""
    config = config or LowRankConfig()
    trained = train_low_rank(model, router.directions, prompts, prompts, config, progress=False)
    default = (
        "low-rank whitened (probe)" if config.unwhiten else "low-rank, not un-whitened (original)"
    )
    method = Categorical(
        name=name or default,
        steering=steering or SteeringConfig(),
        directions=trained.as_directions(router.directions),
    )
    return method, trained


def ridge_method(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    *,
    seed: int = 0,
    name: str = "ridge (probe)",
    steering: SteeringConfig | None = None,
) -> Categorical:
    """Categorical steering with ridge-regression directions fitted on `prompts` (direction split)."""
    directions = fit_ridge_directions(
        model,
        prompts,
        hook=router.hook,
        layer=router.directions.layer,
        k=router.directions.k,
        seed=seed,
    )
    return Categorical(name=name, steering=steering or SteeringConfig(), directions=directions)
