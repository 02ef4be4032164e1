"""`mechrefusal eval`: a model on a JSONL of prompts, rates with 95% intervals as a table.

The prompt file is read and checked before the model loads, so a malformed row costs seconds,
not a training run. Every row is answered unsteered; with `--steer`, the eval-split rows are
also answered under probe-routed categorical steering, with the router fit on the model's own
prompt sets (or on the file's train and direction rows for a model that has none).
"""

import json
from functools import partial
from pathlib import Path

from mechrefusal.categories import CATEGORIES
from mechrefusal.data.prompts import Prompt, load_jsonl
from mechrefusal.scoring.evaluation import (
    EvalResult,
    Rate,
    answer_prompts,
    generate_scored,
    summarize,
)
from mechrefusal.steering.presets import steering_preset
from mechrefusal.steering.router import categorical_plan


def rate_rows(result: EvalResult) -> list[tuple[str, Rate]]:
    """The table's rows: (label, rate), overall rates first, then per category."""
    rows: list[tuple[str, Rate]] = []
    if "all" in result.harmful_refusal:
        rows.append(("harmful refusal", result.harmful_refusal["all"]))
    for kind in ("contrast", "benign"):
        if kind in result.over_refusal:
            rows.append((f"{kind} over-refusal", result.over_refusal[kind]))
    if result.capability is not None:
        rows.append(("capability (exact match)", result.capability))
    for c in CATEGORIES:
        if c in result.harmful_refusal:
            rows.append((f"  harmful refusal: {c}", result.harmful_refusal[c]))
            rows.append((f"  right category token: {c}", result.category_accuracy[c]))
    for c in CATEGORIES:
        if f"contrast/{c}" in result.over_refusal:
            rows.append((f"  contrast over-refusal: {c}", result.over_refusal[f"contrast/{c}"]))
    return rows


def format_table(columns: dict[str, EvalResult]) -> str:
    """Rates of one or more runs side by side: n, rate and 95% Wilson interval per run."""
    labels: list[str] = []
    for result in columns.values():
        labels += [label for label, _ in rate_rows(result) if label not in labels]
    width = max(len(label) for label in labels) + 2
    head = "".join(f"{name:>28}" for name in columns)
    lines = [f"{'rate':<{width}}{head}"]
    for label in labels:
        cells = []
        for result in columns.values():
            rate = dict(rate_rows(result)).get(label)
            cells.append(
                f"{'':>28}"
                if rate is None
                else f"{rate.value:7.1%} [{rate.low:5.1%}, {rate.high:5.1%}] n={rate.n:<4}"
            )
        lines.append(f"{label:<{width}}" + "".join(f"{c:>28}" for c in cells))
    return "\n".join(lines)


def read_prompts(path: str) -> list[Prompt]:
    if not Path(path).exists():
        raise FileNotFoundError(
            f"No prompt file {path}: give a JSONL file, one JSON object per line with at least "
            '"prompt" (and "kind": harmful|benign|contrast, "category", "answer", "split")'
        )
    return load_jsonl(path)


def run_eval(args) -> dict[str, EvalResult]:
    """Answer the file's prompts (and steer them with `--steer`); print and return the rates."""
    from mechrefusal.reporting import experiment

    prompts = read_prompts(args.prompts)
    options = ["--model", args.model, "--artifacts", args.artifacts, "--seed", str(args.seed)]
    if args.layer is not None:
        options += ["--layer", str(args.layer)]
    run_args = experiment.parse_args(None, options)
    loaded = experiment.load(run_args)
    experiment.use_activation_store(run_args)
    columns = {}
    chosen = prompts
    if args.steer:
        chosen = [p for p in prompts if p.split == "eval"] or prompts
    plain = answer_prompts(
        loaded.model, chosen, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens
    )
    columns["unsteered"] = summarize(plain)
    if args.steer:
        splits = experiment.prompt_splits(
            run_args, loaded, user_prompts=None if loaded.prompts else prompts
        )
        layer, _ = experiment.chosen_layer(run_args, loaded, splits)
        run = experiment.Run(run_args, loaded, splits, layer, None, 0.0)
        router = run.router()
        config = steering_preset(
            args.preset,
            loaded.model,
            router,
            splits.direction,
            run_args.artifacts,
            batch_size=args.batch_size,
        )
        plan = partial(categorical_plan, loaded.model, router, config)
        steered = generate_scored(
            loaded.model,
            chosen,
            plan,
            batch_size=args.batch_size,
            max_new_tokens=args.max_new_tokens,
        )
        name = f"steered ({args.preset}: +{config.harmful_coef:g}/{config.benign_coef:g}, layer {layer})"
        columns[name] = summarize(steered)
    print(format_table(columns))
    if args.json:
        Path(args.json).write_text(
            json.dumps({k: v.to_dict() for k, v in columns.items()}, indent=2) + "\n"
        )
        print(f"wrote {args.json}")
    return columns
