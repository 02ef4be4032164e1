"""`mechrefusal eval`: a model on a JSONL of prompts, rates with 95% intervals as a table.

A user's file is evaluation data unless it says otherwise: every row is answered and scored,
in both columns, except rows marked `"split": "train"` or `"direction"`, which are fitting data
and never scored. With `--steer`, the router and the coefficients come from the model's own
prompt sets; a model without any (a Hugging Face id or directory) is fit on the file's fitting
rows instead. The output says which rows were scored, what the router was fit on and how
answers were checked. The prompt file is read and checked before the model loads, so a
malformed row costs seconds, not a training run.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mechrefusal.categories import CATEGORIES
from mechrefusal.data.prompts import Prompt, load_jsonl
from mechrefusal.scoring.evaluation import EvalResult, Rate, ScoredAnswer, answer_prompts, summarize
from mechrefusal.steering.presets import steering_preset
from mechrefusal.steering.preview import SteeringPreview, coefficient_text, preview_steering

FITTING_SPLITS = ("train", "direction")
"""Rows a user marks as fitting data: used to fit a router where the model has no prompt sets
of its own, never scored."""
MATCH_RULES = {
    "contains": "the expected answer as a whole word in the reply (case-insensitive)",
    "exact": "the reply is exactly the expected answer",
}


def rate_rows(result: EvalResult) -> list[tuple[str, Rate]]:
    """The table's rows: (label, rate), overall rates first, then per category."""
    rows: list[tuple[str, Rate]] = []
    if "all" in result.harmful_refusal:
        rows.append(("harmful refusal", result.harmful_refusal["all"]))
    for kind in ("contrast", "benign"):
        if kind in result.over_refusal:
            rows.append((f"{kind} over-refusal", result.over_refusal[kind]))
    for kind in ("harmful", "contrast", "benign"):
        if kind in result.malformed:
            rows.append((f"{kind} malformed", result.malformed[kind]))
    if result.capability is not None:
        rows.append(("capability", result.capability))
    for c in CATEGORIES:
        if c in result.harmful_refusal:
            rows.append((f"  harmful refusal: {c}", result.harmful_refusal[c]))
            rows.append((f"  right category token: {c}", result.category_accuracy[c]))
    for c in CATEGORIES:
        if f"contrast/{c}" in result.over_refusal:
            rows.append((f"  contrast over-refusal: {c}", result.over_refusal[f"contrast/{c}"]))
    return rows


CELL = 30


def format_table(columns: dict[str, EvalResult]) -> str:
    """Rates of one or more runs side by side: n, rate and 95% Wilson interval per run."""
    labels: list[str] = []
    for result in columns.values():
        labels += [label for label, _ in rate_rows(result) if label not in labels]
    width = max(len(label) for label in labels) + 2
    head = "".join(f"{name:>{CELL}}" for name in columns)
    lines = [f"{'rate':<{width}}{head}"]
    for label in labels:
        cells = []
        for result in columns.values():
            rate = dict(rate_rows(result)).get(label)
            cells.append(
                ""
                if rate is None
                else f"{rate.value:7.1%} [{rate.low:5.1%}, {rate.high:5.1%}] n={rate.n:<4}"
            )
        lines.append(f"{label:<{width}}" + "".join(f"{c:>{CELL}}" for c in cells))
    return "\n".join(lines)


def read_prompts(path: str) -> list[Prompt]:
    """The user's file; rows without a split are evaluation rows."""
    if not Path(path).exists():
        raise FileNotFoundError(
            f"No prompt file {path}: give a JSONL file, one JSON object per line with at least "
            '"prompt" (and "kind": harmful|benign|contrast, "category", "answer", "match", '
            '"split")'
        )
    return load_jsonl(path, missing_split="eval")


def scored_and_fitting(prompts: Sequence[Prompt], path: str) -> tuple[list[Prompt], list[Prompt]]:
    """The rows to score (every row not marked train / direction) and the fitting rows."""
    fitting = [p for p in prompts if p.split in FITTING_SPLITS]
    scored = [p for p in prompts if p.split not in FITTING_SPLITS]
    if not scored:
        raise ValueError(
            f"Every row of {path} is marked split train or direction (fitting data, never "
            "scored): mark the rows to measure 'eval', or leave 'split' out."
        )
    return scored, fitting


def capability_rule(prompts: Sequence[Prompt]) -> str | None:
    """How the rows with an expected answer are checked, in words (None: no such rows)."""
    counts = {m: sum(p.answer is not None and p.match == m for p in prompts) for m in MATCH_RULES}
    parts = [
        f"{MATCH_RULES[m]} (match={m}, {n} row{'s' if n > 1 else ''})"
        for m, n in counts.items()
        if n
    ]
    return "; ".join(parts) or None


@dataclass(frozen=True)
class SteeringUsed:
    """What the steered column ran with, for the legend and the JSON."""

    preset: str
    harmful_coef: float
    benign_coef: float
    hook: str
    layer: int
    layer_reason: str
    fit_on: str

    def legend(self) -> str:
        return (
            f"steered: probe-routed categorical steering, {self.preset} coefficients: "
            f"+{coefficient_text(self.harmful_coef)} on prompts routed harmful, "
            f"{coefficient_text(self.benign_coef)} on the others (x norm: multiples of the mean "
            f"residual-stream norm at {self.hook}; layer {self.layer}: {self.layer_reason}); "
            f"router and coefficients fit on {self.fit_on}"
        )


def _answer_record(answer: ScoredAnswer, max_new_tokens: int) -> dict:
    return {
        "first_token": answer.first_token,
        "text": answer.text,
        "cut": answer.n_tokens >= max_new_tokens,
        "refused": answer.refused,
        "malformed": answer.malformed,
        "correct": answer.correct,
    }


def per_prompt_records(
    prompts: Sequence[Prompt],
    plain: Sequence[ScoredAnswer],
    steered: Sequence[SteeringPreview] | None,
    max_new_tokens: int,
) -> list[dict]:
    """One record per scored row: the row, its unsteered answer and, when steered, the
    router's decision and the steered answer."""
    out = []
    for i, p in enumerate(prompts):
        record = {
            "prompt": p.prompt,
            "kind": p.kind,
            "category": p.category,
            "split": p.split,
            "answer": p.answer,
            "match": p.match if p.answer is not None else None,
            "unsteered": _answer_record(plain[i], max_new_tokens),
        }
        if steered is not None:
            row = steered[i]
            record["router"] = {
                "routed_harmful": row.harmful,
                "p_harmful": round(row.harm_score, 4),
                "threshold": round(row.threshold, 4),
                "category": row.category,
                "coefficient": float(coefficient_text(row.coefficient)),
                "decision": row.decision().removeprefix("router: "),
            }
            record["steered"] = _answer_record(row.steered, max_new_tokens)
        out.append(record)
    return out


def _steered_run(args, run_args, loaded, fitting: list[Prompt], path: str):
    """The router and coefficients: the model's own prompt sets, else the file's fitting rows."""
    from mechrefusal.reporting import experiment

    if loaded.prompts:
        splits = experiment.prompt_splits(run_args, loaded)
        fit_on = (
            f"{args.model}'s own prompt sets (router: train and direction; choices: "
            f"{splits.choice_name}; not this file)"
        )
    else:
        if not fitting:
            raise ValueError(
                f"{args.model} has no prompt sets of its own, so --steer fits the router on the "
                f"rows of {path} marked split train or direction, and there are none: add such "
                "rows (harmful with a category, and benign or contrast)."
            )
        splits = experiment.prompt_splits(run_args, loaded, user_prompts=fitting)
        experiment.check_needs(
            splits, ["harmful", "benign|contrast"], path, in_splits=("direction",)
        )
        fit_on = f"the {len(fitting)} train/direction rows of {path}"
    layer, reason = experiment.chosen_layer(run_args, loaded, splits)
    run = experiment.Run(run_args, loaded, splits, layer, reason, 0.0)
    router = run.router()
    config = steering_preset(
        args.preset,
        loaded.model,
        router,
        splits.choice,
        run_args.artifacts,
        batch_size=args.batch_size,
    )
    used = SteeringUsed(
        preset=args.preset,
        harmful_coef=config.harmful_coef,
        benign_coef=config.benign_coef,
        hook=router.hook,
        layer=layer,
        layer_reason=reason,
        fit_on=fit_on,
    )
    return router, config, used


def run_eval(args) -> dict[str, EvalResult]:
    """Answer the file's rows (and steer them with `--steer`); print and return the rates."""
    from mechrefusal.reporting import experiment

    prompts = read_prompts(args.prompts)
    scored, fitting = scored_and_fitting(prompts, args.prompts)
    options = ["--model", args.model, "--artifacts", args.artifacts, "--seed", str(args.seed)]
    if args.layer is not None:
        options += ["--layer", str(args.layer)]
    run_args = experiment.parse_args(None, options)
    loaded = experiment.load(run_args)
    experiment.use_activation_store(run_args)
    steered = used = None
    if args.steer:
        router, config, used = _steered_run(args, run_args, loaded, fitting, args.prompts)
        steered = preview_steering(
            loaded.model,
            router,
            scored,
            config,
            batch_size=args.batch_size,
            max_new_tokens=args.max_new_tokens,
            progress=True,
        )
        plain = [row.unsteered for row in steered]
    else:
        plain = answer_prompts(
            loaded.model,
            scored,
            batch_size=args.batch_size,
            max_new_tokens=args.max_new_tokens,
            decode_all=True,
        )
    columns = {"unsteered": summarize(plain)}
    if steered is not None:
        columns["steered"] = summarize([row.steered for row in steered])
    left_out = (
        f"; {len(fitting)} rows marked train/direction are fitting data, not scored"
        if fitting
        else ""
    )
    print(f"scored {len(scored)} of the {len(prompts)} rows of {args.prompts}{left_out}")
    rule = capability_rule(scored)
    if rule:
        print(f"capability: {rule}")
    print(
        "malformed: answers neither refused nor given (no refusal or [respond] token first, or "
        "one word repeated); read beside over-refusal: a push that breaks answers lowers it"
    )
    print(format_table(columns))
    if used is not None:
        print(used.legend())
    if args.per_prompt:
        records = per_prompt_records(scored, plain, steered, args.max_new_tokens)
        Path(args.per_prompt).write_text("".join(json.dumps(r) + "\n" for r in records))
        print(f"wrote {len(records)} per-prompt records to {args.per_prompt}")
    if args.json:
        record = {
            "file": args.prompts,
            "scored_rows": len(scored),
            "fitting_rows": len(fitting),
            "capability_rule": rule,
            "steering": None if used is None else used.__dict__,
            "rates": {k: v.to_dict() for k, v in columns.items()},
        }
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.json}")
    return columns
