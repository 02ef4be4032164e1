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
        """One line: the router's decision as a person reads it."""
        call = "harmful" if self.harmful else "not harmful"
        return (
            f"router: {call} (P(harmful) {self.harm_score:.2f}, threshold {self.threshold:.2f}); "
            f"category {self.category}; coefficient {self.coefficient:+.2f}"
        )


def preview_steering(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    config: SteeringConfig | None = None,
    *,
    batch_size: int = 8,
    max_new_tokens: int = 24,
    progress: bool = False,
) -> list[SteeringPreview]:
    """Answer every prompt unsteered and steered (both decoded in full) and pair them with the
    router's decision for that prompt."""
    if not prompts:
        raise ValueError("Empty prompt set: nothing to preview.")
    config = config or SteeringConfig()
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
            threshold=router.harm_probe.threshold,
            category=flat["category"][i],
            coefficient=flat["coefficient"][i],
            unsteered=plain[i],
            steered=steered[i],
        )
        for i, p in enumerate(prompts)
    ]
