"""`mechrefusal chat`: talk to a model, and watch the router decide before each answer.

Each line read from standard input is one user message. Before the answer, the router's
decision is printed (harmful or not, with the harm probe's P(harmful) and its threshold; the
category; the coefficient); then the steered answer, and with `--compare` the unsteered one
beside it. `--no-steer` answers unsteered and prints the decision the router would have made.
An empty line or end of input ends the session.
"""

import sys
from dataclasses import replace

from mechrefusal.data.prompts import Prompt
from mechrefusal.scoring.evaluation import ScoredAnswer
from mechrefusal.steering.presets import steering_preset
from mechrefusal.steering.preview import SteeringPreview, coefficient_text, preview_steering

PROMPT = "you> "


def answer_text(answer: ScoredAnswer, max_new_tokens: int) -> str:
    """The answer as printed: first token and text, marked where generation stopped it."""
    text = f"{answer.first_token} {answer.text}".strip()
    if answer.n_tokens >= max_new_tokens:
        text += f" [... cut at {max_new_tokens} tokens: --max-new-tokens]"
    return text


def show(row: SteeringPreview, *, steer: bool, compare: bool, max_new_tokens: int) -> str:
    lines = [row.decision()]
    if steer:
        lines.append(f"model (steered)> {answer_text(row.steered, max_new_tokens)}")
        if compare:
            lines.append(f"model (unsteered)> {answer_text(row.unsteered, max_new_tokens)}")
    else:
        lines.append(f"model> {answer_text(row.unsteered, max_new_tokens)}")
    return "\n".join(lines)


def run_chat(args, stdin=None, stdout=None) -> int:
    """Read messages until an empty line or end of input; return how many were answered."""
    from mechrefusal.reporting import experiment

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    options = ["--model", args.model, "--artifacts", args.artifacts, "--seed", str(args.seed)]
    if args.layer is not None:
        options += ["--layer", str(args.layer)]
    run = experiment.start(None, options)
    router = run.router()
    config = steering_preset(
        args.preset, run.loaded.model, router, run.splits.choice, run.args.artifacts
    )
    config = replace(
        config,
        harmful_coef=config.harmful_coef if args.harmful_coef is None else args.harmful_coef,
        benign_coef=config.benign_coef if args.benign_coef is None else args.benign_coef,
    )
    source = "given" if args.harmful_coef is not None or args.benign_coef is not None else ""
    stdout.write(
        f"mechrefusal chat: {args.model}, steering at {router.hook} "
        f"(+{coefficient_text(config.harmful_coef)} / {coefficient_text(config.benign_coef)} "
        f"x norm, {args.preset}{' with ' + source + ' overrides' if source else ''}) "
        f"(layer {run.layer}: {run.layer_reason}); empty line to quit\n"
        "  a prompt routed harmful gets its category's vector added (towards refusing it); any "
        "other prompt gets the vector of the category it most resembles subtracted (away from "
        "refusing); x norm = times the mean residual-stream norm at that hook"
        + ("; answers are unsteered (--no-steer)" if args.no_steer else "")
        + "\n"
    )
    answered = 0
    interactive = stdin.isatty()
    while True:
        if interactive:
            stdout.write(PROMPT)
            stdout.flush()
        line = stdin.readline()
        if not line or not line.strip():
            break
        prompt = Prompt(prompt=line.strip(), kind="benign", split="eval", template="user")
        (row,) = preview_steering(
            run.loaded.model, router, [prompt], config, max_new_tokens=args.max_new_tokens
        )
        stdout.write(
            show(
                row,
                steer=not args.no_steer,
                compare=args.compare,
                max_new_tokens=args.max_new_tokens,
            )
            + "\n"
        )
        stdout.flush()
        answered += 1
    return answered
