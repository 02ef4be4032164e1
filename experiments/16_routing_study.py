"""Figure 16 — routing as its own study: which reader tells harmful prompts from look-alikes?

Three readers of the residual stream (the router's logistic harm probe; the same probe with
contrast prompts weighted three times as hard negatives; a CAST-style condition vector, the
cosine with the difference of the harmful and the benign + contrast means), each fit on the
probe prompts (train + direction) at every layer, at the instruction's end and at the last
template token. Each threshold keeps 95% of the choice split's harmful prompts routed harmful
(SmolLM2: dev, held out by content from the probe prompts; the organism has none, so its
choices use direction, on which the probes were fit); the reader with the fewest choice-split
contrast prompts routed harmful is chosen there. Left: AUROC of harmful vs contrast on the
choice split by layer. Middle: contrast prompts routed harmful on the first held-out split at
the choice split's thresholds, by layer, beside the figures' own router (the probe at the
steering layer, 2% false positives on held-out frames). Right: the chosen reader and the
figures' router on every held-out split, per prompt kind (over-refused contrast: the
unsteered model's first answer token refuses). Routing only: nothing is steered here.
"""

from mechrefusal._entry import run_entry
from mechrefusal.reporting import experiment, plotting
from mechrefusal.steering.routing_study import held_out_splits, routing_study


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv, needs=("harmful", "contrast"))
    splits, args = run.splits, run.args
    result = routing_study(
        run.loaded.model,
        splits.probe,
        splits.choice,
        held_out_splits(splits),
        choice_name=splits.choice_name,
        steering_layer=run.layer,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    fig = plotting.routing_study(result, title=f"Routing study ({run.loaded.spec})")
    chosen, router = result["chosen"], result["figures_router"]
    first = result["reported_splits"][0]
    headline = {
        "chosen": f"{chosen['reader']}, {chosen['position']}, layer {chosen['layer']}",
        f"chosen contrast routed harmful ({first})": chosen["routed"][first]["contrast"]["value"],
        f"figures' router contrast routed harmful ({first})": router["routed"][first]["contrast"][
            "value"
        ],
    }
    data = {"steering_layer": run.layer, "layer_reason": run.layer_reason, **result}
    return run.save("16_routing_study", fig, data, headline=headline)


if __name__ == "__main__":
    run_entry(main)
