"""Sweep a steering method's strength and choose it on the direction split (figures 08, 13, 15).

A strength is chosen from a sweep by `pick_strength` (the most over-refusal removed within a
capability budget); the eval split never takes part in the choice.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from mechrefusal.analysis.directions import DirectionSet, with_k
from mechrefusal.data.prompts import Prompt
from mechrefusal.scoring.evaluation import (
    generate_scored,
)
from mechrefusal.steering.comparison import (
    prompt_push_plan,
    refused_share,
    reusing_prefix,
    run_method,
    share,
)
from mechrefusal.steering.methods import (
    HARMFUL_GRID,
    STEERING_GRID,
    AnswerMethod,
    Categorical,
)
from mechrefusal.steering.router import Router


@dataclass(frozen=True)
class SweepPoint:
    """Refusal and over-refusal (first answer token only) of one method at one strength."""

    strength: float
    refusal: float
    over_refusal: float
    """On contrast prompts."""
    benign_over_refusal: float
    capability: float | None = None
    """Exact match on the benign tasks (decoded); None where the sweep scored first tokens only."""
    contrast_malformed: float = 0.0
    """Contrast prompts answered with a malformed first token (`ScoredAnswer.malformed`)."""
    harmful_coef: float | None = None
    """A categorical method's coefficient on prompts routed harmful (None for other methods)."""

    @property
    def not_answered(self) -> float:
        """Contrast prompts refused or malformed: what a push must lower, not merely move."""
        return self.over_refusal + self.contrast_malformed

    def to_dict(self) -> dict:
        return vars(self) | {"not_answered": self.not_answered}


@reusing_prefix
def sweep_method(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    method: AnswerMethod,
    strengths: Sequence[float],
    *,
    batch_size: int = 32,
    capability: bool = False,
    max_new_tokens: int = 12,
) -> list[SweepPoint]:
    """Score one method at several strengths on the first answer token (cheap: one forward per
    batch); with `capability`, the benign tasks are also decoded (`max_new_tokens`) and scored
    by exact match, since a push can keep the first token and still break the answer."""
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
            method.at_strength(s),
            batch_size=batch_size,
            max_new_tokens=max_new_tokens if capability else 1,
        )
        checked = [a for a in answers if a.correct is not None]
        points.append(
            SweepPoint(
                strength=s,
                refusal=refused_share(answers, "harmful"),
                over_refusal=refused_share(answers, "contrast"),
                contrast_malformed=share(answers, "contrast", "malformed"),
                benign_over_refusal=refused_share(answers, "benign"),
                capability=(
                    sum(bool(a.correct) for a in checked) / len(checked)
                    if capability and checked
                    else None
                ),
                harmful_coef=(
                    method.steering.harmful_coef if isinstance(method, Categorical) else None
                ),
            )
        )
    return points


def frontier(points: Sequence[dict]) -> list[dict]:
    """The points no other point beats on both rates (more harmful refusal with no more
    contrast prompts left unanswered), fewest unanswered first: a method's best trade-offs
    over every coefficient it was swept at."""
    best: list[dict] = []
    for p in sorted(points, key=lambda p: (p["not_answered"], -p["refusal"])):
        if not best or p["refusal"] > best[-1]["refusal"]:
            best.append(p)
    return best


def pick_strength(
    points: Sequence[SweepPoint],
    *,
    max_over_refusal: float = 0.05,
    max_capability_loss: float | None = None,
) -> float:
    """Highest harmful refusal among strengths whose contrast prompts not answered (refused or
    malformed) <= target; else the strength that leaves fewest unanswered.

    With `max_capability_loss`, only strengths whose capability is within that of the strength-0
    point's compete (the points must carry capability and include strength 0).
    Used on the *direction* split, so the eval split never chooses its own coefficient (no label leak).
    """
    if max_capability_loss is not None:
        base = [p.capability for p in points if p.strength == 0 and p.capability is not None]
        if not base or any(p.capability is None for p in points):
            raise ValueError(
                "Keeping capability needs a sweep with capability=True that includes strength 0."
            )
        points = [p for p in points if p.capability >= base[0] - max_capability_loss]
    # A strength that breaks the answers (malformed first tokens) has not removed over-refusal.
    ok = [p for p in points if p.not_answered <= max_over_refusal]
    if ok:
        return max(ok, key=lambda p: (p.refusal, -abs(p.strength))).strength
    return min(points, key=lambda p: (p.not_answered, -p.refusal)).strength


@reusing_prefix
def half_removal_coef(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    *,
    grid: Sequence[float] = STEERING_GRID,
    sparse: bool = True,
    batch_size: int = 32,
) -> float:
    """The weakest removal strength in `grid` at which subtracting each category's vector takes,
    on average, at least half of its own category's refusal on `prompts` (the direction split;
    first token only); the strongest if none does.

    Specificity is read where the own effect is partial: at a push that removes every refusal
    everywhere (SmolLM2 at the paper's -1.2) no vector can look more specific than another."""
    harmful = [p for p in prompts if p.kind == "harmful" and p.category is not None]
    units = router.directions.unit_vectors(sparse=sparse)
    own = {
        i: [p for p in harmful if p.category == v]
        for i, v in enumerate(router.directions.categories)
        if any(p.category == v for p in harmful)
    }
    if not own:
        raise ValueError("Empty prompt set: no harmful prompts with a category.")

    def refusal(i: int, coef: float) -> float:
        plan = prompt_push_plan(router.hook, coef * router.act_norm * units[i]) if coef else None
        answers = generate_scored(
            model, own[i], plan, batch_size=batch_size, max_new_tokens=1, progress=False
        )
        return refused_share(answers, "harmful")

    base = {i: refusal(i, 0.0) for i in own}
    refusing = [i for i in own if base[i] > 0]
    steps = sorted((c for c in grid if c < 0), reverse=True)
    if not refusing or not steps:
        raise ValueError("Nothing to remove: no category refuses, or no negative strength.")
    for coef in steps:
        removed = [(base[i] - refusal(i, coef)) / base[i] for i in refusing]
        if sum(removed) / len(removed) >= 0.5:
            return coef
    return steps[-1]


@reusing_prefix
def tune_strengths(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    grids: dict[AnswerMethod, Sequence[float]],
    *,
    batch_size: int = 32,
) -> dict[str, float]:
    """Each method's strength by `pick_strength` on its sweep over `prompts` (the direction split)."""
    return {
        method.name: pick_strength(
            sweep_method(model, router, prompts, method, grid, batch_size=batch_size)
        )
        for method, grid in grids.items()
    }


@reusing_prefix
def tune_categorical(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    method: Categorical,
    *,
    harmful_grid: Sequence[float] = HARMFUL_GRID,
    benign_grid: Sequence[float] = STEERING_GRID,
    max_capability_loss: float | None = None,
    batch_size: int = 32,
) -> Categorical:
    """Both coefficients of a categorical method from `prompts` (the direction split), first
    token only: the harmful one with the most harmful refusal (ties: the smaller push), then the
    benign one by `pick_strength`. The paper's fixed -1.2 / +0.8 (x the activation norm) were
    set on Llama-3; a model whose refusal breaks under that push needs its own. With
    `max_capability_loss` the benign sweep also decodes the benign tasks and only strengths
    that keep their exact-match rate within that loss compete (a push can keep `[respond]`
    first and still break the answer: SmolLM2 pushed at every token)."""
    harmful = [p for p in prompts if p.kind == "harmful"]
    if not harmful:
        raise ValueError("Empty prompt set: tuning needs harmful prompts.")

    def refusal(coef: float) -> float:
        answers = run_method(
            model,
            router,
            harmful,
            method.at_harmful_coef(coef),
            batch_size=batch_size,
            max_new_tokens=1,
        )
        return refused_share(answers, "harmful")

    best = max(harmful_grid, key=lambda c: (refusal(c), -c))
    method = method.at_harmful_coef(best)
    keep = max_capability_loss is not None
    points = sweep_method(
        model, router, prompts, method, benign_grid, batch_size=batch_size, capability=keep
    )
    return method.at_strength(pick_strength(points, max_capability_loss=max_capability_loss))


@reusing_prefix
def k_curve(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    directions: dict[str, DirectionSet],
    ks: Sequence[int],
    *,
    coefficient: float = -1.2,
    batch_size: int = 32,
) -> dict[str, list[dict]]:
    """Probe-routed steering with each direction set kept to its top-k coordinates, for every k:
    how the effect grows with the number of coordinates (first answer token only)."""
    return {
        name: [
            {"k": k, **point.to_dict()}
            for k in ks
            for point in sweep_method(
                model,
                router,
                prompts,
                Categorical(name=f"{name} k={k}", directions=with_k(dirs, k)),
                [coefficient],
                batch_size=batch_size,
            )
        ]
        for name, dirs in directions.items()
    }
