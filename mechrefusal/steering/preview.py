"""Prompt by prompt: what the router decided, and the answer without and with steering.

Rates hide which prompts moved and why. `preview_steering` answers each prompt twice, unsteered
and under categorical steering, and keeps the router's decision for it (harmful or not, with
the harm probe's P(harmful) and threshold; category; coefficient), so a reader can see a
decision and its effect side by side. `mechrefusal chat` prints this for every message.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from mechrefusal.data.prompts import Prompt
from mechrefusal.scoring.evaluation import ScoredAnswer, generate_scored, score_generation
from mechrefusal.steering.router import Router, SteeringConfig, steered_generate


@dataclass(frozen=True)
class SteeringPreview:
    """One prompt's routing decision and its two answers."""

    prompt: Prompt
    harmful: bool
    """The router's call: push towards the own category (harmful) or away from it."""
    harm_score: float
    """The harm probe's P(harmful); `harmful` is `harm_score >= threshold` under the probe policy."""
    threshold: float
    category: str
    """The category whose vector was added (category probe, or the model's own token)."""
    coefficient: float
    """Coefficient applied, in units of the mean activation norm at the hook."""
    unsteered: ScoredAnswer
    steered: ScoredAnswer

    def decision(self) -> str:
        """One line: the router's decision and the push it chose, in words."""
        return f"router: {describe_decision(self.harmful, self.harm_score, self.threshold, self.category, self.coefficient)}"


def coefficient_text(value: float) -> str:
    """A coefficient as a person reads it: 0.4, not 0.4000000059604645 (float32 round trip)."""
    return f"{value:.3g}"


def describe_decision(
    harmful: bool, harm_score: float, threshold: float, category: str, coefficient: float
) -> str:
    """The router's call and its push in words. A prompt routed harmful gets its category's
    vector added (towards refusing it as that category); one routed not harmful gets the vector
    of the category it most resembles subtracted (away from refusing); `x norm` is the unit of
    every coefficient: multiples of the mean residual-stream norm at the steering hook."""
    sign = ">=" if harm_score >= threshold else "<"
    call = "harmful" if harmful else "not harmful"
    head = f"{call} (P(harmful) {harm_score:.2f} {sign} threshold {threshold:.2f})"
    if coefficient == 0:
        return f"{head}; no push (coefficient 0)"
    size = coefficient_text(abs(coefficient))
    if coefficient > 0:
        return f"{head}; adds the {category} vector x {size} norm (towards refusing as {category})"
    return (
        f"{head}; subtracts the {category} vector x {size} norm ({category} is the category it "
        "most resembles; away from refusing)"
    )


def preview_steering(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    config: SteeringConfig,
    *,
    batch_size: int = 8,
    max_new_tokens: int = 24,
    progress: bool = False,
) -> list[SteeringPreview]:
    """Answer every prompt unsteered and steered (both decoded in full) and pair them with the
    router's decision for that prompt.

    `config` has no default: take it from `steering_preset("tuned" | "paper", ...)`, as
    `mechrefusal eval` and `chat` do (their default is "tuned"), or write one."""
    if not prompts:
        raise ValueError("Empty prompt set: nothing to preview.")
    plain = generate_scored(
        model,
        prompts,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        progress=progress,
        decode_all=True,
    )
    generation, records = steered_generate(
        model, prompts, router, config, batch_size=batch_size, max_new_tokens=max_new_tokens
    )
    steered = score_generation(model.tokenizer, prompts, generation)
    flat = {
        name: [v for r in records for v in getattr(r, name)]
        for name in ("harmful", "harm_score", "category", "coefficient")
    }
    return [
        SteeringPreview(
            prompt=p,
            harmful=flat["harmful"][i],
            harm_score=flat["harm_score"][i],
            threshold=router.harm_probe.threshold if config.threshold is None else config.threshold,
            category=flat["category"][i],
            coefficient=flat["coefficient"][i],
            unsteered=plain[i],
            steered=steered[i],
        )
        for i, p in enumerate(prompts)
    ]
