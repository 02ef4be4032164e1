"""Evaluate steering methods side by side on the same prompts (figures 07, 08, 13).

Methods are objects of the `methods.AnswerMethod` protocol (unsteered, logit bias, global
direction, categorical under a routing policy, random-vector control); this module only loops
over them. Every method is scored by the same rules, so numbers are comparable. Sweeps over a
method's strength live in `sweeps`, ablation and cross-category matrices in `matrices`.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial, wraps

from mechrefusal._progress import tqdm
from mechrefusal.data.prompts import Prompt
from mechrefusal.engine.generation import reused_prefix
from mechrefusal.scoring.evaluation import (
    EvalResult,
    ScoredAnswer,
    generate_scored,
    summarize,
)
from mechrefusal.scoring.paired import PairedDifference, paired_rates
from mechrefusal.steering.methods import AnswerMethod, Unsteered, push_plan
from mechrefusal.steering.router import Router


def reusing_prefix(fn):
    """Run `fn(model, ...)` inside `reused_prefix(model)`: its many plans over the same prompts
    share the blocks below the steering hook (see `generation.reused_prefix`)."""

    @wraps(fn)
    def wrapper(model, *args, **kwargs):
        with reused_prefix(model):
            return fn(model, *args, **kwargs)

    return wrapper


def run_method(
    model,
    router: Router | None,
    prompts: Sequence[Prompt],
    method: AnswerMethod,
    *,
    batch_size: int = 32,
    max_new_tokens: int = 12,
    records: dict[int, tuple[object, int]] | None = None,
) -> list[ScoredAnswer]:
    """Answer every prompt with one method (a fresh plan per batch) and score the answers.
    `router` may be None for methods that route nothing (unsteered, an ablation). A weight
    edit answers with its own copy of the model (`answering_model`). `records` is filled as
    `generate_scored` fills it (what each batch's plan decided, e.g. routing: `routed_scores`)."""
    model = getattr(method, "answering_model", lambda m: m)(model)
    return generate_scored(
        model,
        prompts,
        partial(method.plan, model, router),
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        progress=False,
        records=records,
    )


def routed_scores(records: dict[int, tuple[object, int]], n: int) -> list[float]:
    """Per prompt 0..n-1, the harm probe's P(harmful) its batch's router read (records filled
    by `run_method` under a routed method): the score routing compared with the threshold."""
    return [float(records[i][0].harm_score[records[i][1]]) for i in range(n)]


@dataclass(frozen=True)
class MethodResult:
    method: AnswerMethod
    result: EvalResult
    category_changed: float
    """Share of prompts whose first answer token differs from the unsteered model's."""
    paired: dict[str, PairedDifference] = field(default_factory=dict)
    """Each goal rate's difference from the unsteered model on the same prompts, with its 95%
    paired interval (`scoring.paired`): what "within N points" is judged on."""

    def to_dict(self) -> dict:
        return {
            **self.method.describe(),
            "category_changed": self.category_changed,
            **self.result.to_dict(),
            "paired_vs_unsteered": {k: v.to_dict() for k, v in self.paired.items()},
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


@reusing_prefix
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
            if method.pushes_nothing
            else run_method(model, router, prompts, method, batch_size=batch_size)
        )
        changed = sum(
            a.first_token != r.first_token for a, r in zip(answers, reference, strict=True)
        ) / len(answers)
        out.append(
            MethodResult(
                method=method,
                result=summarize(answers),
                category_changed=changed,
                paired=paired_rates(reference, answers),
            )
        )
    return out


_RESULT_KEYS = frozenset(
    {"category_changed", "paired_vs_unsteered", *EvalResult.__dataclass_fields__}
)
"""A method row's measured part; the rest of the row describes the method."""


def _measured_as(method: AnswerMethod) -> str:
    """A method's description without its display name, as it reads back from JSON."""
    described = json.loads(json.dumps(method.describe()))
    described.pop("name")
    return json.dumps(described, sort_keys=True)


def compare_reusing(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    methods: Sequence[AnswerMethod],
    earlier: Sequence[dict] = (),
    *,
    batch_size: int = 32,
    progress: bool = True,
) -> list[dict]:
    """`compare_methods`' rows (`MethodResult.to_dict()`), copying the rows of the methods that
    `earlier` (another comparison of the same model, router and prompts: see
    `experiment.Run.earlier`) already measured, under this call's names; the rest are run.
    Figure 13 reads figure 07's five shared methods this way."""
    done = {}
    for row in earlier:
        measured = {k: v for k, v in row.items() if k not in _RESULT_KEYS and k != "name"}
        done[json.dumps(measured, sort_keys=True)] = row
    todo = [m for m in methods if _measured_as(m) not in done]
    fresh = iter(
        compare_methods(model, router, prompts, todo, batch_size=batch_size, progress=progress)
        if todo
        else []
    )
    return [
        {**done[_measured_as(m)], "name": m.name}
        if _measured_as(m) in done
        else next(fresh).to_dict()
        for m in methods
    ]


def share(answers: Sequence[ScoredAnswer], kind: str, hit: str = "refused") -> float:
    """Share of the answers to prompts of `kind` whose flag `hit` (`refused`, `malformed`) is
    set; NaN where there are none."""
    mine = [a for a in answers if a.prompt.kind == kind]
    return sum(getattr(a, hit) for a in mine) / len(mine) if mine else float("nan")


def refused_share(answers: Sequence[ScoredAnswer], kind: str) -> float:
    return share(answers, kind, "refused")


def prompt_push_plan(hook: str, vector):
    """A plan function adding `vector` at the last prompt token (prompt pass only) of every batch."""
    return lambda items, tokens, mask: push_plan(hook, vector, "prompt")
