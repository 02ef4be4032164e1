"""Evaluate steering methods and ablations side by side on the same prompts (DESIGN §5-6, figs 7, 8, 11).

Methods: the unsteered model; the refusal-token logit bias (the refusal-tokens paper's control);
a fixed push along the global refusal direction; categorical steering under a routing policy.
Every method is scored by the same first-answer-token rule, so numbers are comparable.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from tqdm.auto import tqdm

from mechrefusal.evaluation import EvalResult, ScoredAnswer, score_generation, summarize, wilson
from mechrefusal.generation import generate_answers
from mechrefusal.interventions import ablated_directions, added_vectors
from mechrefusal.prompts import Prompt
from mechrefusal.steering import Router, SteeringConfig, refusal_logit_bias, steered_generate

MethodKind = Literal["baseline", "logit_bias", "global", "categorical"]


@dataclass(frozen=True, kw_only=True)
class Method:
    """One way of answering: a kind and its strength."""

    name: str
    kind: MethodKind
    strength: float = 0.0
    """logit_bias: added to refusal logits; global: coefficient x activation norm."""
    steering: SteeringConfig = field(default_factory=SteeringConfig)
    """categorical: the full configuration."""


def run_method(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    method: Method,
    *,
    batch_size: int = 32,
    max_new_tokens: int = 12,
) -> list[ScoredAnswer]:
    """Answer every prompt with one method and score the answers."""
    texts = [p.prompt for p in prompts]
    if method.kind == "baseline":
        gen = generate_answers(
            model, texts, batch_size=batch_size, max_new_tokens=max_new_tokens, progress=False
        )
    elif method.kind == "logit_bias":
        bias = refusal_logit_bias(model.tokenizer, model.cfg.d_vocab, method.strength)
        gen = generate_answers(
            model,
            texts,
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            progress=False,
            first_logit_bias=bias,
        )
    elif method.kind == "global":
        vector = method.strength * router.act_norm * router.directions.global_unit()
        with added_vectors(
            model, router.hook, vector, first_call_only=method.steering.positions == "prompt"
        ):
            gen = generate_answers(
                model, texts, batch_size=batch_size, max_new_tokens=max_new_tokens, progress=False
            )
    elif method.kind == "categorical":
        gen, _ = steered_generate(
            model,
            prompts,
            router,
            method.steering,
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
        )
    else:
        raise ValueError(
            f"Unknown method kind {method.kind!r}; valid: baseline, logit_bias, global, categorical."
        )
    return score_generation(model.tokenizer, prompts, gen)


@dataclass(frozen=True)
class MethodResult:
    method: Method
    result: EvalResult
    category_changed: float
    """Share of prompts whose first answer token differs from the unsteered model's."""

    def to_dict(self) -> dict:
        return {
            "name": self.method.name,
            "kind": self.method.kind,
            "strength": self.method.strength,
            "steering": vars(self.method.steering),
            "category_changed": self.category_changed,
            **self.result.to_dict(),
        }


def compare_methods(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    methods: Sequence[Method],
    *,
    batch_size: int = 32,
    progress: bool = True,
) -> list[MethodResult]:
    """Evaluate each method on the same prompts; the first baseline run is the reference for changes."""
    reference = run_method(
        model, router, prompts, Method(name="baseline", kind="baseline"), batch_size=batch_size
    )
    out = []
    for method in tqdm(methods, desc="methods", disable=not progress, leave=False):
        answers = (
            reference
            if method.kind == "baseline"
            else run_method(model, router, prompts, method, batch_size=batch_size)
        )
        changed = sum(
            a.first_token != r.first_token for a, r in zip(answers, reference, strict=True)
        ) / len(answers)
        out.append(MethodResult(method=method, result=summarize(answers), category_changed=changed))
    return out


@dataclass(frozen=True)
class AblationResult:
    """Refusal rate per harmful category (columns) after ablating each direction (rows)."""

    ablated: list[str]
    categories: list[str]
    refusal: list[list[float]]
    baseline: list[float]
    n: list[int]

    def to_dict(self) -> dict:
        return vars(self)

    def own_category_refusal(self) -> dict[str, float]:
        """Refusal on category c after ablating c's own direction (the diagonal)."""
        return {
            c: self.refusal[self.ablated.index(c)][i]
            for i, c in enumerate(self.categories)
            if c in self.ablated
        }


def ablation_matrix(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    *,
    sparse: bool = False,
    batch_size: int = 32,
    progress: bool = True,
) -> AblationResult:
    """Ablate each category direction, then the global one, and score refusal per harmful category."""
    harmful = [p for p in prompts if p.kind == "harmful"]
    cats = [c for c in router.directions.categories if any(p.category == c for p in harmful)]
    if not cats:
        raise ValueError("Empty prompt set: no harmful prompts to ablate on.")

    def refusal_rates() -> list[float]:
        answers = score_generation(
            model.tokenizer,
            harmful,
            generate_answers(
                model,
                [p.prompt for p in harmful],
                batch_size=batch_size,
                max_new_tokens=1,
                progress=False,
            ),
        )
        return [
            wilson(
                sum(a.refused for a in answers if a.prompt.category == c),
                sum(a.prompt.category == c for a in answers),
            ).value
            for c in cats
        ]

    rows, names = [], []
    units = router.directions.unit_vectors(sparse=sparse)
    targets = [(c, units[router.directions.index(c)]) for c in router.directions.categories]
    targets.append(("global", router.directions.global_unit()))
    for name, vector in tqdm(targets, desc="ablations", disable=not progress, leave=False):
        with ablated_directions(model, vector):
            rows.append(refusal_rates())
        names.append(name)
    return AblationResult(
        ablated=names,
        categories=cats,
        refusal=rows,
        baseline=refusal_rates(),
        n=[sum(p.category == c for p in harmful) for c in cats],
    )


@dataclass(frozen=True)
class SweepPoint:
    """Refusal and over-refusal (first answer token only) of one method at one strength."""

    strength: float
    refusal: float
    over_refusal: float
    """On contrast prompts."""
    benign_over_refusal: float

    def to_dict(self) -> dict:
        return vars(self)


def with_strength(method: Method, strength: float) -> Method:
    """The same method at another strength (categorical: the benign coefficient)."""
    steering = method.steering
    if method.kind == "categorical":
        steering = SteeringConfig(
            harmful_coef=steering.harmful_coef,
            benign_coef=strength,
            policy=steering.policy,
            sparse=steering.sparse,
        )
    return Method(name=method.name, kind=method.kind, strength=strength, steering=steering)


def _refused_share(answers: Sequence[ScoredAnswer], kind: str) -> float:
    mine = [a for a in answers if a.prompt.kind == kind]
    return sum(a.refused for a in mine) / len(mine) if mine else float("nan")


def sweep_method(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    method: Method,
    strengths: Sequence[float],
    *,
    batch_size: int = 32,
) -> list[SweepPoint]:
    """Score one method at several strengths on the first answer token (cheap: one forward per batch)."""
    harmful = [p for p in prompts if p.kind == "harmful"]
    contrast = [p for p in prompts if p.kind == "contrast"]
    benign = [p for p in prompts if p.kind == "benign"]
    if not harmful or not contrast:
        raise ValueError("Empty prompt set: a sweep needs harmful and contrast prompts.")
    points = []
    for s in strengths:
        answers = run_method(
            model,
            router,
            harmful + contrast + benign,
            with_strength(method, s),
            batch_size=batch_size,
            max_new_tokens=1,
        )
        points.append(
            SweepPoint(
                strength=s,
                refusal=_refused_share(answers, "harmful"),
                over_refusal=_refused_share(answers, "contrast"),
                benign_over_refusal=_refused_share(answers, "benign"),
            )
        )
    return points


def pick_strength(points: Sequence[SweepPoint], *, max_over_refusal: float = 0.05) -> float:
    """Highest harmful refusal among strengths whose contrast over-refusal <= target; else the least over-refusing.

    Used on the *direction* split, so the eval split never chooses its own coefficient (no label leak).
    """
    ok = [p for p in points if p.over_refusal <= max_over_refusal]
    if ok:
        return max(ok, key=lambda p: (p.refusal, -abs(p.strength))).strength
    return min(points, key=lambda p: (p.over_refusal, -p.refusal)).strength
