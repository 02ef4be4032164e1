"""Named steering coefficients: the paper's, and those tuned on a model's own choice split.

The paper's +0.8 / -1.2 (x the mean activation norm, at every generated token) were set on
Llama-3 8B; on another model the same push can break the answers (SmolLM2: docs/findings.md).
`tuned_steering` chooses both coefficients and the routing threshold jointly on the model's
choice split (dev where the prompt set has one, held out by content from what the directions
and probes are fit on; else direction) for the goal (`sweeps.tune_categorical`: fewest contrast
prompts not answered, with harmful refusal within 3 points of unsteered and, where the split has
checkable tasks, capability within 2; the harmful grid includes 0) and saves them in the
artifact store, keyed by the model's
fingerprint, the router and the code, so figure 07's tuned mode, `mechrefusal eval --steer`
and `mechrefusal chat` use the same numbers. "tuned" is the CLI default, "paper" a preset.
"""

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from mechrefusal._names import STEERING_PRESETS
from mechrefusal.data.prompts import Prompt, choice_split_name
from mechrefusal.steering.methods import PAPER_POSITIONS, Categorical
from mechrefusal.steering.router import Router, SteeringConfig
from mechrefusal.steering.sweeps import tune_categorical
from mechrefusal.store.artifacts import source_hash, text_hash, write_json

PAPER = SteeringConfig(positions=PAPER_POSITIONS)
"""The paper's steering: +0.8 / -1.2 x the mean activation norm, at every token, probe-routed."""
PRESETS = STEERING_PRESETS


def preset_path(root: str | Path, router: Router, prompts: Sequence[Prompt]) -> Path:
    """Where the tuned coefficients of this model, router and choice split are kept."""
    if router.fingerprint is None:
        raise ValueError("This router records no model fingerprint: fit it with fit_router.")
    key = text_hash(
        [
            json.dumps(router.fingerprint.to_dict(), sort_keys=True),
            router.hook,
            f"{router.act_norm:.6g}",
            f"{router.harm_probe.threshold:.6g}",
            source_hash(),
            *(p.prompt for p in prompts),
        ]
    )
    return Path(root) / "steering_presets" / f"{key}.json"


def tuned_steering(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    root: str | Path,
    *,
    batch_size: int = 32,
    log=print,
) -> SteeringConfig:
    """The paper's mode with both coefficients and the threshold tuned on `prompts` (the choice
    split: dev, else direction; computed once, then read)."""
    path = preset_path(root, router, prompts)
    if path.exists():
        return SteeringConfig(**json.loads(path.read_text())["steering"])
    split = choice_split_name(prompts)
    log(f"tuning the steering coefficients and threshold on {len(prompts)} {split}-split prompts")
    keep = 0.02 if any(p.answer is not None for p in prompts) else None
    method = tune_categorical(
        model,
        router,
        prompts,
        Categorical(steering=PAPER),
        max_capability_loss=keep,
        batch_size=batch_size,
    )
    write_json(
        path,
        {
            "kind": "steering_preset",
            "steering": asdict(method.steering),
            "tuned_on": f"{split} split",
            "objective": "fewest contrast prompts not answered; harmful refusal within 3 points "
            "of unsteered" + ("; capability within 2 points" if keep is not None else ""),
            "n_prompts": len(prompts),
            "hook": router.hook,
        },
    )
    return method.steering


def steering_preset(
    name: str,
    model,
    router: Router,
    prompts: Sequence[Prompt],
    root: str | Path,
    *,
    batch_size: int = 32,
    log=print,
) -> SteeringConfig:
    """`tuned` (`tuned_steering` on `prompts`, the choice split) or `paper` (`PAPER`)."""
    if name == "paper":
        return PAPER
    if name == "tuned":
        return tuned_steering(model, router, prompts, root, batch_size=batch_size, log=log)
    raise ValueError(f"Unknown steering preset {name!r}: use one of {', '.join(PRESETS)}.")
