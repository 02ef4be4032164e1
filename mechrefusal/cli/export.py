"""`mechrefusal export`: a weight edit written out as a Hugging Face checkpoint.

`--method false-refusal` is Wang et al.'s false-refusal vector ablation
(`steering.false_refusal`): the vectors come from the model's direction split; the read-out
layer and the partial-orthogonalisation coefficient are given (`--layer`, `--lam`) or chosen on
the model's choice split (dev where it has one) for the goal; the direction is then
orthogonalised out of every weight that writes to the residual stream, which equals ablating it
at every layer, so the exported model needs no hooks. Models without prompt sets of their own
(a Hugging Face id or directory) have nothing to fit the vectors on and are refused.
"""

import argparse
from pathlib import Path

from mechrefusal._names import EXPORT_METHODS
from mechrefusal.analysis.interventions import orthogonalize_weights_inplace
from mechrefusal.models.export import export_hf
from mechrefusal.models.loading import load_model
from mechrefusal.reporting.experiment import splits_of
from mechrefusal.steering.false_refusal import (
    FalseRefusalAblation,
    candidate_layers,
    refusal_means,
    tune_false_refusal,
)
from mechrefusal.store.artifacts import write_json

METHODS = EXPORT_METHODS


def run_export(args: argparse.Namespace) -> Path:
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty: export into a new directory.")
    if args.lam is not None and not 0 <= args.lam <= 1:
        raise ValueError(f"--lam {args.lam} is outside [0, 1] (1: fully orthogonalised).")
    loaded = load_model(args.model, root=args.artifacts)
    if not loaded.prompts:
        raise ValueError(
            f"{args.model} has no prompt sets of its own to read the false-refusal vectors from; "
            "export a registered model (organism, smollm2) or a saved model directory with them."
        )
    splits = splits_of(loaded.prompts)
    direction, choice = splits.direction, splits.choice
    n_layers = loaded.model.cfg.n_layers
    layers = [args.layer] if args.layer is not None else candidate_layers(n_layers)
    means = refusal_means(loaded.model, direction, layers, batch_size=args.batch_size)
    if args.lam is not None and args.layer is not None:
        method = FalseRefusalAblation(means=means[args.layer], lam=args.lam)
        chosen_on = "given (--layer, --lam)"
        points: list[dict] = []
    else:
        split = splits.choice_name
        print(f"choosing the read-out layer and lam on {len(choice)} {split}-split prompts")
        tuning = tune_false_refusal(
            loaded.model,
            None,
            choice,
            means,
            lambdas=[args.lam] if args.lam is not None else None,
            batch_size=args.batch_size,
        )
        method, chosen_on, points = tuning.method, f"{split} split, for the goal", tuning.points
    if method.strength == 0:
        print(
            "no ablation met the goal's constraints on the choice split: exporting the model unedited"
        )
    else:
        orthogonalize_weights_inplace(loaded.model, method.direction())
    export_hf(loaded.model, loaded.tokenizer, out)
    write_json(
        out / "mechrefusal_export.json",
        {
            "source_model": args.model,
            "method": args.method,
            "edit": method.describe(),
            "chosen_on": chosen_on,
            "tuning_points": points,
            "fingerprint": loaded.fingerprint.to_dict(),
        },
    )
    what = (
        "unedited"
        if method.strength == 0
        else f"false-refusal direction read at {method.means.hook}, lam {method.lam:g}"
    )
    print(f"wrote {out} ({what}; load it with transformers or `--model {out}`)")
    return out
