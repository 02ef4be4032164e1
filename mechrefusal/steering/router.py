"""Categorical steering: probe-routed activation addition during batched generation (docs/method.md, "Routing").

A `Router` holds category directions (fit on the *direction* split), a harmful-vs-benign probe
and a category probe (fit on `probe_prompts`: the figures, the CLI and the quick start pass
train + direction, never eval), all at the same hook, plus the mean last-position activation
norm there, which is the unit of every coefficient (paper: -6 and +4 against norms of about 5,
so about -1.2 and +0.8 here; the unit makes coefficients mean the same across models).

Routing happens inside the steering hook on the prompt's own forward pass: the hook reads the
unsteered activation at the last prompt token, asks the probes, and adds
`coef * norm * v_category` there and at every generated token. No extra forward pass, and
every prompt of a batch gets its own vector. Policies (docs/method.md, "Routing", reported separately):
`probe` (sign and category from the probes), `oracle` (sign from the dataset label, the
NeurIPS label leak, kept only to reproduce its table), `token` (category from the model's own
unsteered first answer token when it is a refusal token, else from the category probe; sign
from the harm probe, never from the label).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Literal

import torch

from mechrefusal._typing import Float, Int, Tensor
from mechrefusal.analysis.activations import Position, cache_activations, prompt_end_index
from mechrefusal.analysis.directions import DirectionSet, directions_from_activations, resolve_k
from mechrefusal.analysis.probe import HarmProbe, LinearProbe, train_harm_probe, train_probe
from mechrefusal.categories import CATEGORIES, token_ids
from mechrefusal.data.chat import suffix_length
from mechrefusal.data.prompts import Prompt, check_no_held_out
from mechrefusal.engine.generation import (
    BatchPlan,
    Generation,
    generate_planned,
    unsteered_first_logits,
    unsteered_residual,
)
from mechrefusal.engine.hooks import Site, hook_name, resolve_hook
from mechrefusal.engine.live_rows import live_rows
from mechrefusal.scoring.evaluation import wilson
from mechrefusal.store.artifacts import (
    ArtifactError,
    ModelFingerprint,
    fingerprint_of,
    read_metadata,
    text_hash,
    write_json,
)

Policy = Literal["probe", "oracle", "token"]


@dataclass(frozen=True, kw_only=True)
class SteeringConfig:
    """How categorical steering pushes each prompt."""

    harmful_coef: float = 0.8
    """Coefficient (x mean activation norm) on the own-category direction for harmful-routed prompts (paper: +4)."""
    benign_coef: float = -1.2
    """Coefficient (x mean activation norm) for benign-routed prompts (paper: -6)."""
    policy: Policy = "probe"
    sparse: bool = True
    """Use the sparse top-k directions (the paper's) rather than the dense ones."""
    positions: Literal["prompt", "prompt_and_generated"] = "prompt"
    """Where the vector is added: the last prompt token only (the first answer token, where the
    refusal decision is made, reads it; later tokens see it through the KV cache), or also every
    generated token (the paper's code, which costs capability on long answers)."""
    threshold: float | None = None
    """The harm probe's P(harmful) at or above which a prompt is routed harmful; None: the
    router's own (calibrated when it was fit). Tuned presets choose it with the coefficients."""

    def __post_init__(self) -> None:
        if self.positions not in ("prompt", "prompt_and_generated"):
            raise ValueError(
                f"Unknown positions {self.positions!r}; valid: prompt, prompt_and_generated."
            )
        if self.policy not in ("probe", "oracle", "token"):
            raise ValueError(f"Unknown policy {self.policy!r}; valid: probe, oracle, token.")


@dataclass(frozen=True, kw_only=True)
class Router:
    """Directions (direction split) and probes (train + direction in the figures) at one hook."""

    directions: DirectionSet
    harm_probe: HarmProbe
    category_probe: LinearProbe
    act_norm: float
    """Mean L2 norm of the last-position activation at the hook: the coefficient unit."""
    probe_position: Position = "prompt_end"
    """Where the harmful-vs-benign probe reads the prompt: the last user-text token by default
    (it carries the request's own cues; the last template token mostly carries the model's
    refusal decision, so a probe there inherits the over-refusal it should correct). The
    category probe reads the last token, where the model's own category decision is."""
    fingerprint: ModelFingerprint | None = None
    """The model it was fit on (set by `fit_router`): what `save` records and `load` checks."""
    harm_layer: int | None = None
    """The layer whose residual stream (`resid_post`) the harm probe reads, when it is not the
    steering hook (`with_harm_reader`: the layer that tells harmful prompts from look-alikes
    best need not be the one that steers best). It is read unsteered, before any push."""

    @property
    def hook(self) -> str:
        return self.directions.hook

    @property
    def harm_hook(self) -> str:
        """Where the harm probe reads the prompt."""
        return self.hook if self.harm_layer is None else hook_name("resid_post", self.harm_layer)

    def save(self, directory: str | Path, fingerprint: ModelFingerprint | None = None) -> Path:
        """Directions, both probes and the routing settings, as safetensors + JSON files.

        `fingerprint` defaults to the one recorded when the router was fit."""
        fingerprint = fingerprint or self.fingerprint
        if fingerprint is None:
            raise ValueError(
                "This router records no model fingerprint: pass save(directory, "
                "loaded.fingerprint), or fit it with fit_router, which records one."
            )
        directory = Path(directory)
        self.directions.save(directory / "directions", fingerprint)
        self.harm_probe.save(directory / "harm_probe", fingerprint, hook=self.hook)
        self.category_probe.save(
            directory / "category_probe",
            fingerprint,
            metadata={"hook": self.hook, "categories": list(self.directions.categories)},
        )
        write_json(
            directory / "router.json",
            {
                "kind": "router",
                "act_norm": self.act_norm,
                "probe_position": self.probe_position,
                "hook": self.hook,
                "harm_layer": self.harm_layer,
            },
        )
        return directory

    @classmethod
    def load(cls, directory: str | Path, fingerprint: ModelFingerprint) -> "Router":
        """Load a saved router, checking every part against the model."""
        directory = Path(directory)
        meta = read_metadata(directory / "router")
        if meta.get("kind") != "router":
            raise ArtifactError(f"{directory} does not hold a saved router.")
        directions = DirectionSet.load(directory / "directions", fingerprint)
        category_probe, _ = LinearProbe.load(directory / "category_probe", fingerprint)
        return cls(
            directions=directions,
            harm_probe=HarmProbe.load(directory / "harm_probe", fingerprint),
            category_probe=category_probe,
            act_norm=meta["act_norm"],
            probe_position=meta["probe_position"],
            fingerprint=fingerprint,
            harm_layer=meta.get("harm_layer"),
        )

    def with_harm_reader(self, probe: HarmProbe, *, layer: int, position: Position) -> "Router":
        """The same directions and category probe, routing harmful vs benign with `probe` read
        at `position` of layer `layer`'s residual stream (e.g. the routing study's choice)."""
        if position not in ("last", "prompt_end"):
            raise ValueError(f"Routing reads one position (last or prompt_end), not {position!r}.")
        return replace(self, harm_probe=probe, harm_layer=layer, probe_position=position)


def split_activations(
    model, hook: str, prompts: Sequence[Prompt], progress: bool, position: Position = "last"
) -> tuple[Tensor, Int[Tensor, " n_harmful"], Tensor]:
    """Activations of harmful prompts (with category indices in CATEGORIES) and of benign +
    contrast ones, from one pass over harmful-then-benign prompts (every estimator fitted on
    the same prompts shares one activation-store entry)."""
    harmful = [p for p in prompts if p.kind == "harmful" and p.category is not None]
    benign = [p for p in prompts if p.kind in ("benign", "contrast")]
    if not harmful or not benign:
        raise ValueError("Empty prompt set: the router needs harmful and benign/contrast prompts.")
    texts = [p.prompt for p in harmful + benign]
    acts = cache_activations(model, texts, [hook], position=position, progress=progress)[hook]
    labels = torch.tensor([CATEGORIES.index(p.category) for p in harmful])  # type: ignore[arg-type]
    return acts[: len(harmful)], labels, acts[len(harmful) :]


def by_category(
    harm_acts: Float[Tensor, "n_harmful d_model"], labels: Int[Tensor, " n_harmful"]
) -> dict[str, Tensor]:
    """`split_activations`' harmful rows grouped by category (categories without rows left out)."""
    return {c: harm_acts[labels == i] for i, c in enumerate(CATEGORIES) if (labels == i).any()}


def probe_group(prompt: Prompt) -> str:
    """The group a prompt is held out with when the harm probe's threshold is calibrated: its
    sentence frame where it has one (templates named `.../<index>`: the organism's and the
    project-written real-model prompts), else the prompt itself."""
    return prompt.template if prompt.template.rsplit("/", 1)[-1].isdigit() else prompt.prompt


def probe_groups(prompts: Sequence[Prompt]) -> list[str]:
    """`probe_group` per row, in `split_activations`' order (harmful, then benign/contrast)."""
    harmful = [p for p in prompts if p.kind == "harmful" and p.category is not None]
    benign = [p for p in prompts if p.kind in ("benign", "contrast")]
    return [probe_group(p) for p in harmful + benign]


def fit_router(
    model,
    prompts: Sequence[Prompt],
    *,
    layer: int,
    site: Site = "resid_post",
    probe_prompts: Sequence[Prompt] | None = None,
    probe_position: Position = "prompt_end",
    k: int | None = None,
    k_fraction: float | None = None,
    tau: float = 1e-3,
    target_fpr: float = 0.02,
    seed: int = 0,
    progress: bool = True,
) -> Router:
    """Fit directions on `prompts` (the direction split) and the probes on `probe_prompts`.

    `probe_prompts` defaults to `prompts`; every figure, the CLI and the README's quick start
    pass train + direction (more phrasings help the probes generalise to unseen templates), so
    their numbers agree. The harm probe's threshold is set for `target_fpr` on about a quarter
    of `probe_prompts` held out by sentence frame (`probe_group`), so it is calibrated on
    frames the probe never saw (a tuned preset may replace it: `SteeringConfig.threshold`).
    Evaluation prompts are refused.
    """
    check_no_held_out([*prompts, *(probe_prompts or [])], "fit_router")
    hook, layer = resolve_hook(model, layer=layer, site=site)
    harm_acts, labels, benign_acts = split_activations(model, hook, prompts, progress)
    provenance = {"prompts_hash": text_hash([p.prompt for p in prompts]), "seed": seed}
    directions = directions_from_activations(
        by_category(harm_acts, labels),
        benign_acts,
        hook=hook,
        layer=layer,
        k=resolve_k(model.cfg.d_model, k=k, k_fraction=k_fraction),
        tau=tau,
        metadata=provenance,
    )
    act_norm = float(torch.cat([harm_acts, benign_acts]).norm(dim=-1).mean())
    fit_on = probe_prompts if probe_prompts is not None else prompts
    if probe_prompts is not None:
        harm_acts, labels, benign_acts = split_activations(model, hook, fit_on, progress)
    category_probe = train_probe(harm_acts, labels, n_classes=len(CATEGORIES), seed=seed)
    if probe_position != "last":
        harm_acts, _, benign_acts = split_activations(model, hook, fit_on, progress, probe_position)
    harm_probe = train_harm_probe(
        harm_acts, benign_acts, target_fpr=target_fpr, seed=seed, groups=probe_groups(fit_on)
    )
    return Router(
        directions=directions,
        harm_probe=replace(
            harm_probe,
            provenance={
                "prompts_hash": text_hash([p.prompt for p in fit_on]),
                "seed": seed,
                "position": probe_position,
            },
        ),
        category_probe=category_probe,
        act_norm=act_norm,
        probe_position=probe_position,
        fingerprint=fingerprint_of(model),
    )


@dataclass
class RoutingRecord:
    """What the router decided for each prompt of a batch (filled on the first forward call)."""

    vectors: torch.Tensor | None = None
    probe_index: torch.Tensor | None = None
    """Per row, the position the probes read (from `Router.probe_position`), counted from the
    end of the prompt pass (-1: its last token)."""
    category_override: torch.Tensor | None = None
    """Per row, a category index that replaces the category probe's (-1: use the probe)."""
    given_score: torch.Tensor | None = None
    """Per row, the harm probe's P(harmful) read before the hook ran (a harm probe at another
    layer, `Router.harm_layer`); None: the hook reads it."""
    calls: int = 0
    harmful: list[bool] = field(default_factory=list)
    harm_score: list[float] = field(default_factory=list)
    """Per row, the harm probe's P(harmful) (compared with its threshold)."""
    category: list[str] = field(default_factory=list)
    coefficient: list[float] = field(default_factory=list)
    """Per row, the coefficient applied (x the activation norm)."""


def routed_steering_hook(
    activation: Float[Tensor, "batch pos d_model"],
    hook,
    *,
    router: Router,
    config: SteeringConfig,
    record: RoutingRecord,
    forced_harmful: torch.Tensor | None,
) -> Float[Tensor, "batch pos d_model"]:
    """Route on the first call (the prompt pass); add each row's vector at position -1.

    Later calls (one per generated token) add them again only for `prompt_and_generated`.
    """
    record.calls += 1
    if record.calls > 1 and config.positions == "prompt":
        return activation
    if record.vectors is None:
        score = record.given_score
        if score is None:
            score = router.harm_probe.p_harmful(_read_at(activation, record.probe_index))
        threshold = router.harm_probe.threshold if config.threshold is None else config.threshold
        harmful = forced_harmful if forced_harmful is not None else score >= threshold
        category = router.category_probe.predict(activation[:, -1].float().cpu())
        if record.category_override is not None:
            override = record.category_override
            category = torch.where(override >= 0, override, category)
        units = router.directions.unit_vectors(sparse=config.sparse)[category]
        coefs = torch.where(harmful.bool(), config.harmful_coef, config.benign_coef)
        coef = coefs * router.act_norm
        record.vectors = coef[:, None] * units
        record.harmful = harmful.bool().tolist()
        record.harm_score = score.tolist()
        record.coefficient = coefs.tolist()
        record.category = [router.directions.categories[i] for i in category.tolist()]
    vectors = live_rows(record.vectors)  # rows that stopped have left a decoding batch
    activation[:, -1] = activation[:, -1] + vectors.to(activation.device, activation.dtype)
    return activation


def _read_at(
    activation: Float[Tensor, "batch pos d_model"], index: Int[Tensor, " batch"] | None
) -> Float[Tensor, "batch d_model"]:
    """Each row's activation at its own position (counted from the end; None: the last)."""
    rows = torch.arange(activation.shape[0], device=activation.device)
    index = torch.full_like(rows, -1) if index is None else index.to(activation.device)
    return activation[rows, index].float().cpu()


def _probe_index(model, router: Router, tokens) -> torch.Tensor:
    """Positions the probes read, matching how `fit_router` cached their training activations,
    counted from the end (-1: the last token), as a shared prompt prefix leaves them."""
    if router.probe_position == "last":
        return torch.full((tokens.shape[0],), -1, dtype=torch.long)
    if router.probe_position == "prompt_end":
        return prompt_end_index(tokens, suffix_length(model.tokenizer)) - tokens.shape[1]
    raise ValueError(
        f"Routing reads one position; {router.probe_position!r} is not supported (use last or prompt_end)."
    )


def first_token_categories(model, router: Router, tokens, mask) -> Int[Tensor, " batch"]:
    """Per row, the index (in the router's categories) of the unsteered first answer token's
    category, or -1 when that token is `[respond]` or anything else."""
    first = unsteered_first_logits(model, tokens, mask, layer=router.directions.layer).argmax(-1)
    ids = token_ids(model.tokenizer)
    by_id = {ids[c]: i for i, c in enumerate(router.directions.categories)}
    return torch.tensor([by_id.get(int(t), -1) for t in first], dtype=torch.long)


def categorical_plan(
    model, router: Router, config: SteeringConfig, prompts: Sequence[Prompt], tokens, mask
) -> BatchPlan:
    """The steering hook of one batch, with a fresh routing record (see `PlanFn`)."""
    record = RoutingRecord(probe_index=_probe_index(model, router, tokens))
    if router.harm_layer is not None:
        residual = unsteered_residual(model, tokens, mask, layer=router.harm_layer)
        record.given_score = router.harm_probe.p_harmful(_read_at(residual, record.probe_index))
    forced = None
    if config.policy == "token":
        record.category_override = first_token_categories(model, router, tokens, mask)
    elif config.policy == "oracle":
        forced = torch.tensor([p.kind == "harmful" for p in prompts])
    fn = partial(
        routed_steering_hook, router=router, config=config, record=record, forced_harmful=forced
    )
    # The hook reads the probe position and writes the last one: only the prompt's tail.
    tail = 1 if record.given_score is not None else int(-record.probe_index.min())
    return BatchPlan(hooks=[(router.hook, fn)], record=record, tail=tail, live_rows_aware=True)


def steered_generate(
    model,
    prompts: Sequence[Prompt],
    router: Router,
    config: SteeringConfig,
    *,
    batch_size: int = 32,
    max_new_tokens: int = 12,
) -> tuple[Generation, list[RoutingRecord]]:
    """Batched greedy generation with per-prompt categorical steering (KV cache on)."""
    if not prompts:
        raise ValueError("Empty prompt set: nothing to steer.")
    gen, plans = generate_planned(
        model,
        prompts,
        [p.prompt for p in prompts],
        partial(categorical_plan, model, router, config),
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        progress=False,
    )
    return gen, [plan.record for plan in plans]


def refusal_logit_bias(tokenizer, d_vocab: int, bias: float) -> Float[Tensor, " d_vocab"]:
    """A first-step logit bias of `bias` on the five refusal tokens (negative: refuse less)."""
    ids = token_ids(tokenizer)
    vec = torch.zeros(d_vocab)
    for c in CATEGORIES:
        vec[ids[c]] = bias
    return vec


def routing_confusion(
    model,
    router: Router,
    prompts: Sequence[Prompt],
    *,
    batch_size: int = 32,
    threshold: float | None = None,
) -> dict:
    """Where the router sends each kind of prompt, read at the positions routing reads.

    Returns Wilson rates (as dicts): per prompt kind, the share the harm probe routes as
    harmful (harmful: the probe's recall; contrast and benign: its false-positive rates, the
    prompts that would be pushed towards refusal); and on harmful prompts the category probe's
    accuracy, overall and per category. This locates a steering failure in the routing before
    blaming the vectors. `threshold` replaces the harm probe's own (a tuned preset's).
    """
    if not prompts:
        raise ValueError("Empty prompt set: nothing to route.")
    cut = router.harm_probe.threshold if threshold is None else threshold
    texts = [p.prompt for p in prompts]
    hook, harm_hook = router.hook, router.harm_hook
    at_probe = cache_activations(
        model,
        texts,
        [harm_hook],
        position=router.probe_position,
        batch_size=batch_size,
        progress=False,
    )[harm_hook]
    at_last = cache_activations(
        model, texts, [hook], position="last", batch_size=batch_size, progress=False
    )[hook]
    harmful = (router.harm_probe.p_harmful(at_probe) >= cut).tolist()
    category = [router.directions.categories[i] for i in router.category_probe.predict(at_last)]
    routed: dict[str, dict] = {}
    for kind in ("harmful", "contrast", "benign"):
        rows = [i for i, p in enumerate(prompts) if p.kind == kind]
        if rows:
            routed[kind] = wilson(sum(harmful[i] for i in rows), len(rows)).to_dict()
    graded = [i for i, p in enumerate(prompts) if p.kind == "harmful" and p.category is not None]
    accuracy = {}
    if graded:
        accuracy["all"] = wilson(
            sum(category[i] == prompts[i].category for i in graded), len(graded)
        ).to_dict()
        for c in CATEGORIES:
            mine = [i for i in graded if prompts[i].category == c]
            if mine:
                accuracy[c] = wilson(sum(category[i] == c for i in mine), len(mine)).to_dict()
    return {"routed_harmful": routed, "category_accuracy": accuracy}
