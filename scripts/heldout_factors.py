"""Which held-out part of a prompt costs the organism its refusal? (the organism's held-out diagnosis, docs/organism.md)

An eval-split harmful prompt differs from a training prompt in four independent parts: its
template, its category keyword, its cue sentence (or, for safety, its harm marker) and its slot
values (people, places, things, topics). This script builds harmful prompts with each part
taken from the training split or the eval split, one part held out at a time, and scores the
organism on each mix with the figures' own scoring. The row where only the keyword is held out
measures what the glossary gives the fine-tune; the row where only the template is held out
measures how much the model learned the templates. Prints one JSON object:

    python scripts/heldout_factors.py --model organism
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mechrefusal._entry import run_entry  # noqa: E402
from mechrefusal.categories import CATEGORIES, Category  # noqa: E402
from mechrefusal.data.prompts import PARTS, _keyword_prompts  # noqa: E402
from mechrefusal.data.world import Split, build_world  # noqa: E402
from mechrefusal.models.loading import DEFAULT_ARTIFACTS, load_model  # noqa: E402
from mechrefusal.scoring.evaluation import answer_prompts, summarize  # noqa: E402

MIXES: dict[str, dict[str, Split]] = {
    "all train": {},
    **{f"{part} held out": {part: "eval"} for part in PARTS},
    **{
        f"{a} + {b} held out": {a: "eval", b: "eval"}
        for a, b in (("template", "keyword"), ("template", "cue"), ("keyword", "cue"))
    },
    "all but slots held out": {"template": "eval", "keyword": "eval", "cue": "eval"},
    "all held out (eval split)": dict.fromkeys(PARTS, "eval"),
}


def mixed_prompts(world, category: Category, held: dict[str, Split], n: int, seed: int):
    """Harmful prompts whose parts come from the splits in `held` (train where not named)."""
    parts = {part: held.get(part, "train") for part in PARTS}
    return _keyword_prompts(world, category, "eval", n, seed, kind="harmful", parts=parts)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="organism")
    parser.add_argument("--artifacts", default=str(DEFAULT_ARTIFACTS))
    parser.add_argument("--n", type=int, default=160, help="prompts per category and mix")
    parser.add_argument("--seed", type=int, default=0, help="the organism's world seed")
    args = parser.parse_args(argv)
    if not args.model.startswith("organism"):
        parser.error("the parts are the organism's generator's: use an organism spec")
    loaded = load_model(args.model, root=args.artifacts)
    world = build_world(args.seed)
    out = {}
    for name, held in MIXES.items():
        prompts = [p for c in CATEGORIES for p in mixed_prompts(world, c, held, args.n, args.seed)]
        rates = summarize(answer_prompts(loaded.model, prompts, progress=False)).to_dict()
        out[name] = {
            "harmful_refusal": {
                c: round(r["value"], 3) for c, r in rates["harmful_refusal"].items()
            },
            "right_token": {c: round(r["value"], 3) for c, r in rates["category_accuracy"].items()},
        }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    run_entry(main)
