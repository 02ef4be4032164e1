"""Figure 00 — the model organism's baseline behaviour on its eval split.

Refusal rate per harmful category and the share answered with the right category token,
over-refusal on benign tasks and on contrast prompts (the built-in problem steering must fix),
and capability (exact match on benign tasks), each with a Wilson 95% interval. Prompts are from
the eval split: templates, keywords, cues and slot values never seen in training. Capability is
also measured on a same-sized sample of the training examples themselves, to show how much is
memorised phrasing. Where the prompt set has a paraphrase split (the organism's: eval words on
another sentence grammar) it is measured too and drawn beside the eval split, and so is an
external set (SmolLM2: HarmBench's standard behaviours, never used to fit anything), with the
first tokens its prompts get.
"""

import json
import random
from collections import Counter
from pathlib import Path

from mechrefusal._entry import run_entry
from mechrefusal.models.smollm2 import RECORD as FINETUNE_RECORD
from mechrefusal.reporting import experiment, plotting
from mechrefusal.scoring.evaluation import answer_prompts, evaluate, summarize
from mechrefusal.steering.comparison import result_rates


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv, with_layer=False, needs=())
    args, loaded, splits = run.args, run.loaded, run.splits
    result = evaluate(loaded.model, splits.eval, batch_size=args.batch_size).to_dict()
    # Accuracy on the training examples themselves (a sample as large as the eval set's): how much of
    # the capability is memorised phrasing rather than skill.
    seen = [p for p in splits.train if p.kind == "benign"]
    n_eval = sum(p.kind == "benign" for p in splits.eval)
    result["train_example_accuracy"] = (
        evaluate(
            loaded.model,
            random.Random(args.seed).sample(seen, min(len(seen), max(n_eval, 1))),
            batch_size=args.batch_size,
        ).to_dict()["capability"]
        if seen
        else None
    )
    if splits.paraphrase:
        result["paraphrase"] = evaluate(
            loaded.model, splits.paraphrase, batch_size=args.batch_size
        ).to_dict()
    if splits.external:
        # Another benchmark, never fitted on: refusal and which first tokens it gets.
        answers = answer_prompts(loaded.model, splits.external, batch_size=args.batch_size)
        result["external"] = summarize(answers).to_dict() | {
            "first_tokens": dict(Counter(a.first_token for a in answers).most_common()),
            "source": sorted({p.template for p in splits.external}),
        }
    source = loaded.source_dir or Path(loaded.spec)
    record = source.parent / "organism.json"
    if record.exists():  # the organism's own training record
        result["training_seconds"] = json.loads(record.read_text())["seconds"]
    tuned = source / FINETUNE_RECORD
    saved = json.loads(tuned.read_text()) if tuned.exists() else {}
    if "seconds" in saved:  # a fine-tune's record (the instruct model's is its conversion's)
        result["finetune"] = {
            "seconds": saved["seconds"],
            "adapted_blocks": saved.get("adapted_blocks"),
            "config": saved["config"],
        }
    fig = plotting.organism_baseline(result, title=f"Baseline behaviour of {args.model}")
    headline = result_rates(result) | {
        "train_example_accuracy": (result["train_example_accuracy"] or {}).get("value"),
    }
    if splits.paraphrase:
        headline |= {f"paraphrase_{k}": v for k, v in result_rates(result["paraphrase"]).items()}
    if splits.external:
        headline["external_harmful_refusal"] = result["external"]["harmful_refusal"]["all"]["value"]
    return run.save("00_organism_baseline", fig, result, headline=headline)


if __name__ == "__main__":
    run_entry(main)
