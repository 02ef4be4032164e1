"""Routing as its own study: which reading of a prompt tells harmful requests from their
look-alikes on prompts it never saw (docs/findings.md, "Routing study").

Probe-routed steering pushes every prompt its harm reader calls harmful towards refusal, so a
look-alike it misroutes is out of reach of any benign push (`scripts/steering_limits.py`). Here
the reader is studied apart from steering. At every residual layer (`resid_post`), at the
instruction's end and at the last template token, three readers are fit on the probe prompts
(train + direction, as the router's probes are):

- `probe`: the router's logistic harm probe (harmful vs benign and contrast);
- `probe, contrast x3`: the same with each contrast prompt weighted as three (hard negatives);
- `condition vector`: CAST's condition (IBM activation-steering), the cosine between the
  centred activation and the difference of the harmful and the benign + contrast means.

Each reader's threshold keeps `recall` of the choice split's harmful prompts routed harmful
(dev: held out by content from the probe prompts), and the reader is chosen there too, by the
fewest contrast prompts routed harmful at that threshold (ties: the higher AUROC of harmful vs
contrast). Held-out splits (eval, external, paraphrase) are read only for the report: the share
of harmful, contrast, over-refused contrast (the unsteered first answer token refuses) and
benign prompts routed harmful, with Wilson intervals. The figures' own router (the probe at the
steering layer and the instruction's end, thresholded for 2% false positives on sentence frames
of the probe prompts it was not fit on) is measured beside it.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mechrefusal._typing import Bool, Float, Tensor
from mechrefusal.analysis.activations import cache_activations
from mechrefusal.analysis.probe import HarmProbe, LinearProbe, train_harm_probe, train_probe
from mechrefusal.categories import CATEGORIES, has_refusal_tokens, token_ids
from mechrefusal.data.prompts import HELD_OUT_SPLITS, Prompt, check_no_held_out
from mechrefusal.engine.generation import last_logits_from, model_device
from mechrefusal.engine.hooks import hook_name
from mechrefusal.scoring.evaluation import wilson
from mechrefusal.scoring.scorers import auroc
from mechrefusal.steering.router import probe_groups

READERS = ("probe", "probe, contrast x3", "condition vector")
PROBE_READERS = READERS[:2]
"""The readers a `Router` can route with (a logistic probe; the condition vector is a cosine)."""
POSITIONS = ("prompt_end", "last")
HARD_NEGATIVE_WEIGHT = 3.0
RECALL = 0.95
"""Share of the choice split's harmful prompts every threshold keeps routed harmful: the
unsteered model refuses nearly all of them, and a harmful prompt routed benign gets a push away
from refusal."""
ROUTER_FPR = 0.02
"""The figures' router's target false-positive rate (`steering.router.fit_router`)."""
Scorer = Callable[[Float[Tensor, "n d_model"]], Float[Tensor, " n"]]


def fit_reader(
    reader: str,
    acts: Float[Tensor, "n d_model"],
    harmful: Bool[Tensor, " n"],
    contrast: Bool[Tensor, " n"],
    *,
    seed: int = 0,
) -> Scorer:
    """Fit one reader (`READERS`) on labelled activations; returns its scoring function
    (higher: more harmful)."""
    if reader == "condition vector":
        centre = acts.mean(0)
        condition = acts[harmful].mean(0) - acts[~harmful].mean(0)
        return lambda x: F.cosine_similarity(x.float() - centre, condition[None], dim=-1)
    probe = fit_probe_reader(reader, acts, harmful, contrast, seed=seed)
    return lambda x: probe.logits(x).softmax(-1)[:, 1]


def fit_probe_reader(
    reader: str,
    acts: Float[Tensor, "n d_model"],
    harmful: Bool[Tensor, " n"],
    contrast: Bool[Tensor, " n"],
    *,
    seed: int = 0,
) -> LinearProbe:
    """One of `PROBE_READERS`: a harmful-vs-rest logistic probe (class 1: harmful)."""
    if reader not in READERS:
        raise ValueError(f"Unknown reader {reader!r}; valid: {', '.join(READERS)}.")
    if reader not in PROBE_READERS:
        raise ValueError(f"Not a probe reader: {reader!r}; valid: {', '.join(PROBE_READERS)}.")
    weights = torch.where(contrast, HARD_NEGATIVE_WEIGHT, 1.0) if reader != "probe" else None
    return train_probe(acts, harmful.long(), n_classes=2, seed=seed, weights=weights)


def recall_threshold(harmful_scores: Float[Tensor, " n"], recall: float) -> float:
    """The highest threshold that keeps at least `recall` of these scores at or above it."""
    if not 0 < recall <= 1 or len(harmful_scores) == 0:
        raise ValueError(f"Need harmful scores and 0 < recall <= 1 (got {recall}).")
    ranked = harmful_scores.sort(descending=True).values
    return float(ranked[math.ceil(recall * len(ranked)) - 1])


def routed_harmful(
    scores: Float[Tensor, " n"],
    threshold: float,
    prompts: Sequence[Prompt],
    over_refused: Sequence[bool] | None,
) -> dict[str, dict]:
    """Per kind (harmful, contrast, over-refused contrast, benign), the share of prompts whose
    score reaches `threshold`, with its Wilson interval; kinds without prompts left out."""
    routed = (scores >= threshold).tolist()
    groups = {
        kind: [i for i, p in enumerate(prompts) if p.kind == kind]
        for kind in ("harmful", "contrast", "benign")
    }
    if over_refused is not None:
        groups["over-refused contrast"] = [i for i in groups["contrast"] if over_refused[i]]
    return {
        kind: wilson(sum(routed[i] for i in rows), len(rows)).to_dict()
        for kind, rows in groups.items()
        if rows
    }


def harmful_vs_contrast_auroc(scores: Float[Tensor, " n"], prompts: Sequence[Prompt]) -> float:
    rows = [i for i, p in enumerate(prompts) if p.kind in ("harmful", "contrast")]
    return auroc([float(scores[i]) for i in rows], [prompts[i].kind == "harmful" for i in rows])


@dataclass(frozen=True)
class _Split:
    name: str
    prompts: list[Prompt]
    acts: dict[tuple[str, int], Tensor]
    """(position, layer) -> activations, one row per prompt."""
    over_refused: list[bool] | None


def _first_token_refuses(model, final_last: Float[Tensor, "n d_model"]) -> list[bool] | None:
    """Per prompt, whether the unsteered first answer token is a refusal token (the final
    residual at the last template token, unembedded); None for models without those tokens."""
    if not has_refusal_tokens(model.tokenizer):
        return None
    ids = token_ids(model.tokenizer)
    refusal = torch.tensor([ids[c] for c in CATEGORIES])
    n, first = model.cfg.n_layers, []
    with torch.inference_mode():
        for chunk in final_last.split(256):
            x = chunk[:, None].to(model_device(model), model.cfg.dtype)
            first.append(last_logits_from(model, x, n, None).argmax(-1).cpu())
    return torch.isin(torch.cat(first), refusal).tolist()


def _split(model, name, prompts, layers, *, batch_size, progress) -> _Split:
    hooks = [hook_name("resid_post", layer) for layer in layers]
    texts = [p.prompt for p in prompts]
    acts = {}
    for position in POSITIONS:
        cached = cache_activations(
            model, texts, hooks, position=position, batch_size=batch_size, progress=progress
        )
        acts.update({(position, layer): cached[h] for layer, h in zip(layers, hooks, strict=True)})
    # `layers` is every layer, so the last one's residual is the final one.
    over = _first_token_refuses(model, acts[("last", layers[-1])])
    return _Split(name=name, prompts=list(prompts), acts=acts, over_refused=over)


def routing_study(
    model,
    fit_on: Sequence[Prompt],
    choice: Sequence[Prompt],
    reported: dict[str, Sequence[Prompt]],
    *,
    choice_name: str = "dev",
    steering_layer: int,
    recall: float = RECALL,
    seed: int = 0,
    batch_size: int = 32,
    progress: bool = True,
) -> dict:
    """Every reader at every layer and position, thresholded and chosen on `choice`, measured
    on `choice` and each `reported` split; with the figures' own router beside it. The probes
    see `fit_on` only; held-out prompts are refused there and in `choice`."""
    check_no_held_out([*fit_on, *choice], "routing_study")
    fit_on = [p for p in fit_on if p.kind in ("harmful", "benign", "contrast")]
    if not any(p.kind == "harmful" for p in choice):
        raise ValueError("The choice split needs harmful prompts to set the thresholds.")
    layers = list(range(model.cfg.n_layers))
    split = lambda name, prompts: _split(  # noqa: E731
        model, name, prompts, layers, batch_size=batch_size, progress=progress
    )
    fit = split("fit", fit_on)
    measured = [split(choice_name, choice)] + [
        split(name, prompts) for name, prompts in reported.items() if prompts
    ]
    harmful = torch.tensor([p.kind == "harmful" for p in fit.prompts])
    contrast = torch.tensor([p.kind == "contrast" for p in fit.prompts])
    choice_harmful = [i for i, p in enumerate(measured[0].prompts) if p.kind == "harmful"]
    rows = []
    for reader in READERS:
        for position in POSITIONS:
            for layer in layers:
                key = (position, layer)
                score = fit_reader(reader, fit.acts[key], harmful, contrast, seed=seed)
                scores = {s.name: score(s.acts[key]) for s in measured}
                threshold = recall_threshold(scores[choice_name][choice_harmful], recall)
                rows.append(
                    {
                        "reader": reader,
                        "position": position,
                        "layer": layer,
                        "threshold": threshold,
                        **_measures(measured, scores, threshold),
                    }
                )
    return {
        "recall": recall,
        "choice_split": choice_name,
        "reported_splits": [s.name for s in measured[1:]],
        "fit_prompts": len(fit.prompts),
        "readers": list(READERS),
        "positions": list(POSITIONS),
        "layers": layers,
        "hard_negative_weight": HARD_NEGATIVE_WEIGHT,
        "rows": rows,
        "chosen": min(rows, key=_choice_key(choice_name)),
        "steerable": min(
            (r for r in rows if r["reader"] in PROBE_READERS), key=_choice_key(choice_name)
        ),
        "figures_router": _figures_router(fit, measured, steering_layer, seed),
    }


def _choice_key(choice_name: str) -> Callable[[dict], tuple[float, float]]:
    """The choice rule: fewest choice-split contrast prompts routed harmful, then higher AUROC."""
    return lambda r: (
        r["routed"][choice_name]["contrast"]["value"],
        -r["auroc_harmful_vs_contrast"][choice_name],
    )


def reader_probe(
    model, fit_on: Sequence[Prompt], study: dict, *, seed: int = 0, batch_size: int = 32
) -> HarmProbe:
    """The harm probe of a study's `steerable` row, fit on `fit_on` (the study's own probe
    prompts) as the study fit it, with that row's threshold (`recall` of the choice split's
    harmful prompts): what `Router.with_harm_reader` routes with. Its recorded rates are the
    choice split's."""
    check_no_held_out(fit_on, "reader_probe")
    row, choice = study["steerable"], study["choice_split"]
    fit_on = [p for p in fit_on if p.kind in ("harmful", "benign", "contrast")]
    hook = hook_name("resid_post", row["layer"])
    acts = cache_activations(
        model,
        [p.prompt for p in fit_on],
        [hook],
        position=row["position"],
        batch_size=batch_size,
        progress=False,
    )[hook]
    harmful = torch.tensor([p.kind == "harmful" for p in fit_on])
    contrast = torch.tensor([p.kind == "contrast" for p in fit_on])
    routed = row["routed"][choice]
    rest = [routed[k] for k in ("contrast", "benign") if k in routed]
    fpr = sum(r["value"] * r["n"] for r in rest) / max(1, sum(r["n"] for r in rest))
    return HarmProbe(
        probe=fit_probe_reader(row["reader"], acts, harmful, contrast, seed=seed),
        threshold=row["threshold"],
        target_fpr=fpr,
        held_out_fpr=fpr,
        held_out_tpr=routed["harmful"]["value"],
        provenance={"reader": row["reader"], "position": row["position"], "choice_split": choice},
    )


def _measures(measured: list[_Split], scores: dict[str, Tensor], threshold: float) -> dict:
    return {
        "auroc_harmful_vs_contrast": {
            s.name: harmful_vs_contrast_auroc(scores[s.name], s.prompts) for s in measured
        },
        "routed": {
            s.name: routed_harmful(scores[s.name], threshold, s.prompts, s.over_refused)
            for s in measured
        },
    }


def _figures_router(fit: _Split, measured: list[_Split], layer: int, seed: int) -> dict:
    """The harm probe `fit_router` gives the figures, measured the same way."""
    key = ("prompt_end", layer)
    harmful = [i for i, p in enumerate(fit.prompts) if p.kind == "harmful" and p.category]
    benign = [i for i, p in enumerate(fit.prompts) if p.kind in ("benign", "contrast")]
    probe = train_harm_probe(
        fit.acts[key][harmful],
        fit.acts[key][benign],
        target_fpr=ROUTER_FPR,
        seed=seed,
        groups=probe_groups(fit.prompts),
    )
    scores = {s.name: probe.p_harmful(s.acts[key]) for s in measured}
    return {
        "reader": "figures' router",
        "position": "prompt_end",
        "layer": layer,
        "threshold": probe.threshold,
        **_measures(measured, scores, probe.threshold),
    }


def held_out_splits(splits) -> dict[str, list[Prompt]]:
    """The held-out splits of a `PromptSplits` that have prompts, by name (`HELD_OUT_SPLITS`)."""
    return {name: getattr(splits, name) for name in HELD_OUT_SPLITS if getattr(splits, name)}
