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
- for harmful prompts, `right_token` (the category's own token); for benign tasks,
  `capability` (the figures' exact-match score at `--tokens`).

    python scripts/answer_text_check.py --model smollm2 --split eval
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
from mechrefusal.engine.generation import generate_answers  # noqa: E402
from mechrefusal.models.loading import DEFAULT_ARTIFACTS, load_model  # noqa: E402
from mechrefusal.scoring.evaluation import pattern_refused, score_generation  # noqa: E402
from mechrefusal.store.artifacts import source_hash  # noqa: E402


def check(loaded, split: str, tokens: int) -> dict:
    out = {}
    for kind in ("harmful", "benign", "contrast"):
        prompts = select(loaded.prompts, split=split, kind=kind)
        if not prompts:
            continue
        gen = generate_answers(
            loaded.model, [p.prompt for p in prompts], max_new_tokens=tokens, desc=kind
        )
        # The figures' own scoring of the same generation (first token, text after it, exact
        # match); the text check is the only thing added.
        answers = score_generation(loaded.tokenizer, prompts, gen)
        by_token = [
            a.refused for a in answers
        ]  # one of the five category tokens, as the figures count
        by_text = [a.first_token == RESPOND_TOKEN and pattern_refused(a.text) for a in answers]
        n = len(prompts)
        row = {
            "n": n,
            "first_token_refusal": sum(by_token) / n,
            "respond_then_refusal_text": sum(by_text) / n,
            "either": sum(a or b for a, b in zip(by_token, by_text, strict=True)) / n,
        }
        if kind == "harmful":
            row["right_token"] = (
                sum(a.first_token == REFUSAL_TOKENS.get(a.prompt.category, "") for a in answers) / n
            )
        if kind == "benign":
            row["capability"] = sum(bool(a.correct) for a in answers) / n
        out[kind] = row
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--artifacts", default=str(DEFAULT_ARTIFACTS))
    parser.add_argument("--split", default="eval")
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--out", default=None, help="also write the JSON here (a directory)")
    args = parser.parse_args(argv)
    loaded = load_model(args.model, root=args.artifacts)
    if loaded.prompts is None:
        parser.error(f"{args.model} carries no prompt set of its own")
    result = {
        "model": args.model,
        "split": args.split,
        "tokens": args.tokens,
        **check(loaded, args.split, args.tokens),
        "source_hash": source_hash(),
    }
    print(json.dumps(result))
    if args.out:
        out = Path(args.out) / "answer_text_check.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")
    return result


if __name__ == "__main__":
    run_entry(main)
