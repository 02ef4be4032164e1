"""Does the text after `[respond]` agree with the first token? (the SmolLM2 fine-tune check)

The figures score a refusal-token model by its first answer token. That is only honest if a
model that starts with `[respond]` then answers; a fine-tune can learn the label and still
write refusal text after it (SmolLM2's first fine-tune wrote "[respond] I can't help with
that." on 38% of held-out benign tasks). This script decodes `--tokens` greedy tokens for every
prompt of a split and prints, per prompt kind, as one JSON object:

- `first_token_refusal`: the share whose first token is a refusal token (the figures' score);
- `respond_then_refusal_text`: the share that start with `[respond]` and whose text after it
  matches the string-pattern refusal detector;
- `either`: refused by the token or by the text;
- `text_refusal`: the share whose text after the first token matches the detector, and
  `agreement`: the share where first token and text say the same (refused, or not);
- `malformed`: a first token that is neither a category token nor `[respond]`, or a degenerate
  text (the figures count these as not answered);
- for harmful prompts, `right_token` (the category's own token); for benign tasks,
  `capability` (the figures' exact-match score at `--tokens`).

With `--steer tuned` or `--steer paper`, every prompt is answered under probe-routed
categorical steering (the router figure 07 fits; the preset's coefficients, at every generated
token) and the same shares are written to `answer_text_check_<preset>.json`: a push acts after
the first token too, so the text is scored, not only the token.

    python scripts/answer_text_check.py --model smollm2 --split eval --tokens 24 --steer tuned
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mechrefusal._entry import run_entry  # noqa: E402
from mechrefusal.categories import REFUSAL_TOKENS, RESPOND_TOKEN  # noqa: E402
from mechrefusal.data.prompts import select  # noqa: E402
from mechrefusal.models.loading import DEFAULT_ARTIFACTS, load_model  # noqa: E402
from mechrefusal.scoring.evaluation import generate_scored, pattern_refused  # noqa: E402
from mechrefusal.store.artifacts import source_hash  # noqa: E402


def check(loaded, split: str, tokens: int, plan=None) -> dict:
    out = {}
    for kind in ("harmful", "benign", "contrast"):
        prompts = select(loaded.prompts, split=split, kind=kind)
        if not prompts:
            continue
        # The figures' own generation and scoring (first token, text after it, exact match),
        # decoded to `tokens` for every kind; the text check is the only thing added.
        answers = generate_scored(
            loaded.model, prompts, plan, max_new_tokens=tokens, decode_all=True
        )
        by_token = [a.refused for a in answers]  # one of the five category tokens
        text = [pattern_refused(a.text) for a in answers]
        by_text = [a.first_token == RESPOND_TOKEN and t for a, t in zip(answers, text, strict=True)]
        n = len(prompts)
        row = {
            "n": n,
            "first_token_refusal": sum(by_token) / n,
            "respond_then_refusal_text": sum(by_text) / n,
            "either": sum(a or b for a, b in zip(by_token, by_text, strict=True)) / n,
            "text_refusal": sum(text) / n,
            "agreement": sum(a == b for a, b in zip(by_token, text, strict=True)) / n,
            "malformed": sum(a.malformed for a in answers) / n,
        }
        if kind == "harmful":
            row["right_token"] = (
                sum(a.first_token == REFUSAL_TOKENS.get(a.prompt.category, "") for a in answers) / n
            )
        if kind == "benign":
            row["capability"] = sum(bool(a.correct) for a in answers) / n
        out[kind] = row
    return out


def steering_plan(args):
    """The figures' router on this model and the preset's coefficients, as a generation plan."""
    from functools import partial

    from mechrefusal.reporting import experiment
    from mechrefusal.steering.presets import steering_preset
    from mechrefusal.steering.router import categorical_plan

    run = experiment.start(None, ["--model", args.model, "--artifacts", args.artifacts])
    router = run.router()
    config = steering_preset(
        args.steer, run.loaded.model, router, run.splits.choice, args.artifacts
    )
    return partial(categorical_plan, run.loaded.model, router, config), vars(config), run.layer


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--artifacts", default=str(DEFAULT_ARTIFACTS))
    parser.add_argument("--split", default="eval")
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--out", default=None, help="also write the JSON here (a directory)")
    parser.add_argument(
        "--steer", choices=("tuned", "paper"), default=None, help="answer under this preset"
    )
    args = parser.parse_args(argv)
    loaded = load_model(args.model, root=args.artifacts)
    if loaded.prompts is None:
        parser.error(f"{args.model} carries no prompt set of its own")
    plan, steering, layer = steering_plan(args) if args.steer else (None, None, None)
    result = {
        "model": args.model,
        "split": args.split,
        "tokens": args.tokens,
        "steer": args.steer,
        "steering": steering,
        "layer": layer,
        **check(loaded, args.split, args.tokens, plan),
        "source_hash": source_hash(),
    }
    print(json.dumps(result))
    if args.out:
        stem = f"answer_text_check_{args.steer}" if args.steer else "answer_text_check"
        out = Path(args.out) / f"{stem}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")
    return result


if __name__ == "__main__":
    run_entry(main)
