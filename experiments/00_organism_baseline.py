"""Figure 00 — the model organism's baseline behaviour on its eval split.

Refusal rate per harmful category and the share answered with the right category token,
over-refusal on benign tasks and on contrast prompts (the built-in problem steering must fix),
and capability (exact match on benign tasks), each with a Wilson 95% interval. Prompts are from
the eval split: templates, keywords, cues and slot values never seen in training. Capability is
also measured on a same-sized sample of training-template tasks, to show how much of it is
memorised phrasing. Where the prompt set has a paraphrase split (the organism's: eval words on
another sentence grammar) it is measured too and drawn beside the eval split.
"""

import json
import random
from pathlib import Path

from mechrefusal import experiment, plotting
from mechrefusal.comparison import result_rates
from mechrefusal.evaluation import evaluate


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv, with_layer=False, needs=())
    args, loaded, splits = run.args, run.loaded, run.splits
    result = evaluate(loaded.model, splits.eval, batch_size=args.batch_size).to_dict()
    # The same tasks on training templates (a sample as large as the eval set's): how much of
    # the capability is memorised phrasing rather than skill.
    seen = [p for p in splits.train if p.kind == "benign"]
    n_eval = sum(p.kind == "benign" for p in splits.eval)
    result["train_template_capability"] = (
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
    record = Path(loaded.spec).parent / "organism.json"
    if record.exists():  # the organism's own training record
        result["training_seconds"] = json.loads(record.read_text())["seconds"]
    fig = plotting.organism_baseline(result, title=f"Baseline behaviour of {loaded.spec}")
    headline = result_rates(result) | {
        "train_template_capability": (result["train_template_capability"] or {}).get("value"),
    }
    if splits.paraphrase:
        headline |= {f"paraphrase_{k}": v for k, v in result_rates(result["paraphrase"]).items()}
    return run.save("00_organism_baseline", fig, result, headline=headline)


if __name__ == "__main__":
    main()
