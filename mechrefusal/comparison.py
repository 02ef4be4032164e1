"""Evaluate steering methods and ablations side by side on the same prompts (DESIGN §5-6, figs 7, 8, 11).

Methods are objects of the `methods.AnswerMethod` protocol (unsteered, logit bias, global
direction, categorical under a routing policy, random-vector control); this module only loops
over them. Every method is scored by the same first-answer-token rule, so numbers are
comparable. `cross_category_matrix` crosses every category vector with every category's
prompts (is a category vector specific to its category?).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial, wraps
from typing import Literal

from tqdm.auto import tqdm

from mechrefusal.categories import REFUSAL_TOKENS
from mechrefusal.directions import DirectionSet, with_k
from mechrefusal.evaluation import (
    EvalResult,
    ScoredAnswer,
    generate_scored,
    summarize,
    wilson,
)
from mechrefusal.generation import reused_prefix
from mechrefusal.interventions import ablated_directions, mean_residuals
from mechrefusal.methods import (
    HARMFUL_GRID,
    STEERING_GRID,
    AnswerMethod,
    Categorical,
    Unsteered,
    push_plan,
)
from mechrefusal.prompts import Prompt
from mechrefusal.steering import Router


def _reusing_prefix(fn):
    """Run `fn(model, ...)` inside `reused_prefix(model)`: its many plans over the same prompts
    share the blocks below the steering hook (see `generation.reused_prefix`)."""

    @wraps(fn)
    def wrapper(model, *args, **kwargs):
        with reused_prefix(model):
            return fn(model, *args, **kwargs)

    return wrapper


def run_method(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    method: AnswerMethod,
    *,
    batch_size: int = 32,
    max_new_tokens: int = 12,
) -> list[ScoredAnswer]:
    """Answer every prompt with one method (a fresh plan per batch) and score the answers."""
    return generate_scored(
        model,
        prompts,
        partial(method.plan, model, router),
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        progress=False,
    )


@dataclass(frozen=True)
class MethodResult:
    method: AnswerMethod
    result: EvalResult
    category_changed: float
    """Share of prompts whose first answer token differs from the unsteered model's."""

    def to_dict(self) -> dict:
        return {
            **self.method.describe(),
            "category_changed": self.category_changed,
            **self.result.to_dict(),
        }


def result_rates(result: dict) -> dict[str, float | None]:
    """The headline rates of one `EvalResult.to_dict()` (or a method row, which includes one)."""
    over = result["over_refusal"]
    return {
        "harmful_refusal": result["harmful_refusal"]["all"]["value"],
        "contrast_over_refusal": over["contrast"]["value"],
        "benign_over_refusal": over["benign"]["value"] if "benign" in over else None,
        "capability": result["capability"]["value"] if result["capability"] else None,
    }


def headline_rates(results: Sequence[dict]) -> dict[str, dict]:
    """Per method (`MethodResult.to_dict()` rows): the rates a figure's MANIFEST headline shows."""
    return {r["name"]: result_rates(r) for r in results}


@_reusing_prefix
def compare_methods(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    methods: Sequence[AnswerMethod],
    *,
    batch_size: int = 32,
    progress: bool = True,
) -> list[MethodResult]:
    """Evaluate each method on the same prompts; the first baseline run is the reference for changes."""
    reference = run_method(model, router, prompts, Unsteered(), batch_size=batch_size)
    out = []
    for method in tqdm(methods, desc="methods", disable=not progress, leave=False):
        answers = (
            reference
            if isinstance(method, Unsteered)
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
class SweepPoint:
    """Refusal and over-refusal (first answer token only) of one method at one strength."""

    strength: float
    refusal: float
    over_refusal: float
    """On contrast prompts."""
    benign_over_refusal: float
    capability: float | None = None
    """Exact match on the benign tasks (decoded); None where the sweep scored first tokens only."""

    def to_dict(self) -> dict:
        return vars(self)


def _refused_share(answers: Sequence[ScoredAnswer], kind: str) -> float:
    mine = [a for a in answers if a.prompt.kind == kind]
    return sum(a.refused for a in mine) / len(mine) if mine else float("nan")


@_reusing_prefix
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
                refusal=_refused_share(answers, "harmful"),
                over_refusal=_refused_share(answers, "contrast"),
                benign_over_refusal=_refused_share(answers, "benign"),
                capability=(
                    sum(bool(a.correct) for a in checked) / len(checked)
                    if capability and checked
                    else None
                ),
            )
        )
    return points


def pick_strength(
    points: Sequence[SweepPoint],
    *,
    max_over_refusal: float = 0.05,
    max_capability_loss: float | None = None,
) -> float:
    """Highest harmful refusal among strengths whose contrast over-refusal <= target; else the least over-refusing.

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
    ok = [p for p in points if p.over_refusal <= max_over_refusal]
    if ok:
        return max(ok, key=lambda p: (p.refusal, -abs(p.strength))).strength
    return min(points, key=lambda p: (p.over_refusal, -p.refusal)).strength


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


def _push_plan(hook: str, vector):
    """A plan function adding `vector` at the last prompt token (prompt pass only) of every batch."""
    return lambda items, tokens, mask: push_plan(hook, vector, "prompt")


@_reusing_prefix
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
        down = answer(_push_plan(router.hook, remove_coef * push))
        up = answer(_push_plan(router.hook, add_coef * push))
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


@_reusing_prefix
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
        plan = _push_plan(router.hook, coef * router.act_norm * units[i]) if coef else None
        answers = generate_scored(
            model, own[i], plan, batch_size=batch_size, max_new_tokens=1, progress=False
        )
        return _refused_share(answers, "harmful")

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


@_reusing_prefix
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


@_reusing_prefix
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
        return _refused_share(answers, "harmful")

    best = max(harmful_grid, key=lambda c: (refusal(c), -c))
    method = method.at_harmful_coef(best)
    keep = max_capability_loss is not None
    points = sweep_method(
        model, router, prompts, method, benign_grid, batch_size=batch_size, capability=keep
    )
    return method.at_strength(pick_strength(points, max_capability_loss=max_capability_loss))


@_reusing_prefix
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
