"""Matrices over categories: ablate each direction and read every category's refusal (figure 11),
or push each category vector on every category's prompts (figure 14: is a vector specific?).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mechrefusal._progress import tqdm
from mechrefusal.analysis.interventions import ablated_directions, mean_residuals
from mechrefusal.categories import REFUSAL_TOKENS
from mechrefusal.data.prompts import Prompt
from mechrefusal.scoring.evaluation import (
    ScoredAnswer,
    generate_scored,
    wilson,
)
from mechrefusal.steering.comparison import prompt_push_plan, reusing_prefix
from mechrefusal.steering.router import Router


@dataclass(frozen=True)
class AblationResult:
    """Refusal rate per harmful category (columns) after ablating each direction (rows)."""

    ablated: list[str]
    categories: list[str]
    refusal: list[list[float]]
    baseline: list[float]
    n: list[int]
    mode: str = "zero"
    """zero: the component is removed; mean: it is held at its mean over reference prompts."""

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
    mode: Literal["zero", "mean"] = "zero",
    reference: Sequence[Prompt] | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> AblationResult:
    """Ablate each category direction, then the global one, and score refusal per harmful category.

    `mode="mean"` holds each direction's coordinate at its mean over `reference` prompts (pass
    the direction split, never the prompts being scored).
    """
    if mode == "mean" and not reference:
        raise ValueError("Mean ablation needs reference prompts (e.g. the direction split).")
    if mode not in ("zero", "mean"):
        raise ValueError(f"Unknown ablation mode {mode!r}; valid: zero, mean.")
    harmful = [p for p in prompts if p.kind == "harmful"]
    cats = [c for c in router.directions.categories if any(p.category == c for p in harmful)]
    if not cats:
        raise ValueError("Empty prompt set: no harmful prompts to ablate on.")

    def refusal_rates() -> list[float]:
        answers = generate_scored(model, harmful, batch_size=batch_size, progress=False)
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
    means = (
        mean_residuals(model, [p.prompt for p in reference], batch_size=batch_size)
        if mode == "mean" and reference
        else None
    )
    for name, vector in tqdm(targets, desc="ablations", disable=not progress, leave=False):
        with ablated_directions(model, vector, means=means):
            rows.append(refusal_rates())
        names.append(name)
    return AblationResult(
        ablated=names,
        categories=cats,
        refusal=rows,
        baseline=refusal_rates(),
        n=[sum(p.category == c for p in harmful) for c in cats],
        mode=mode,
    )


@dataclass(frozen=True)
class CrossCategoryResult:
    """Vector of category i (rows) added to harmful prompts of category j (columns)."""

    vectors: list[str]
    categories: list[str]
    removed_refusal: list[list[float]]
    """Refusal rate on category j with `remove_coef` x v_i added (negative: pushed away)."""
    added_token: list[list[float]]
    """Share of category j whose first token is i's refusal token with `add_coef` x v_i added."""
    baseline_refusal: list[float]
    baseline_token: list[list[float]]
    """Share of category j answered with i's token, unsteered."""
    n: list[int]
    remove_coef: float
    add_coef: float

    def to_dict(self) -> dict:
        return vars(self)

    def specificity(self) -> dict[str, float]:
        """Per vector: own-category refusal drop minus the mean drop on the other categories
        (> 0: the vector acts more on its own category than on the others)."""
        out = {}
        for i, v in enumerate(self.vectors):
            if v not in self.categories:
                continue
            drops = [
                self.baseline_refusal[j] - self.removed_refusal[i][j]
                for j in range(len(self.categories))
            ]
            own = self.categories.index(v)
            others = [d for j, d in enumerate(drops) if j != own]
            out[v] = drops[own] - (sum(others) / len(others) if others else 0.0)
        return out


@reusing_prefix
def cross_category_matrix(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    *,
    remove_coef: float = -1.2,
    add_coef: float = 0.8,
    sparse: bool = True,
    batch_size: int = 32,
    progress: bool = True,
) -> CrossCategoryResult:
    """Every (vector i, category j) pair on the harmful prompts of `prompts`, first token only.

    Coefficients are in units of the router's mean activation norm (the paper's -6 / +4).
    """
    harmful = [p for p in prompts if p.kind == "harmful" and p.category is not None]
    cats = [c for c in router.directions.categories if any(p.category == c for p in harmful)]
    if not cats:
        raise ValueError("Empty prompt set: no harmful prompts with a category.")
    vectors = list(router.directions.categories)
    units = router.directions.unit_vectors(sparse=sparse)

    def answer(plan=None) -> list[ScoredAnswer]:
        return generate_scored(
            model, harmful, plan, batch_size=batch_size, max_new_tokens=1, progress=False
        )

    def share(answers, category, hit) -> float:
        mine = [a for a in answers if a.prompt.category == category]
        return sum(hit(a) for a in mine) / len(mine)

    def token_is(v: str):
        return lambda a: a.first_token == REFUSAL_TOKENS[v]

    base = answer()
    removed, added = [], []
    for i, v in enumerate(tqdm(vectors, desc="vectors", disable=not progress, leave=False)):
        push = router.act_norm * units[i]
        down = answer(prompt_push_plan(router.hook, remove_coef * push))
        up = answer(prompt_push_plan(router.hook, add_coef * push))
        removed.append([share(down, c, lambda a: a.refused) for c in cats])
        added.append([share(up, c, token_is(v)) for c in cats])
    return CrossCategoryResult(
        vectors=vectors,
        categories=cats,
        removed_refusal=removed,
        added_token=added,
        baseline_refusal=[share(base, c, lambda a: a.refused) for c in cats],
        baseline_token=[[share(base, c, token_is(v)) for c in cats] for v in vectors],
        n=[sum(p.category == c for p in harmful) for c in cats],
        remove_coef=remove_coef,
        add_coef=add_coef,
    )
