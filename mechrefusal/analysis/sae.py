"""SAE feature view of the refusal directions, on sae-lens objects (docs/method.md, "Other analyses").

The organism's SAE is trained with sae-lens's own training runner, fed from an in-memory,
pre-tokenised dataset of the organism's world text and chat-formatted training prompts (no
network); real models load a pretrained sae-lens release instead. We never re-implement SAE
math: encoding, decoding and training are sae-lens's. On top we provide:
- the feature x category matrix (difference of mean feature activations, harmful[c] vs benign);
- each direction's alignment with every decoder row (a direction that *is* a decoder row puts
  that feature on top);
- top, shared and category-specific features;
- rebuilding a direction from its top-k features and measuring how much of its steering effect
  survives.
"""

import json
import logging
import random
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import torch
from einops import einsum

from mechrefusal import distributed
from mechrefusal._typing import Float, Tensor
from mechrefusal.analysis.activations import cache_activations
from mechrefusal.analysis.directions import DirectionSet
from mechrefusal.analysis.interventions import add_vector_hook
from mechrefusal.categories import CATEGORIES
from mechrefusal.data.chat import format_prompt, length_order, tokenize_prompts
from mechrefusal.data.prompts import Prompt
from mechrefusal.engine import shared_prefix
from mechrefusal.engine.generation import BatchPlan, reused_prefix
from mechrefusal.engine.hooks import stop_layer_for
from mechrefusal.scoring.evaluation import refusal_logit_gap
from mechrefusal.store.artifacts import (
    ArtifactError,
    ModelFingerprint,
    check_fingerprint,
    source_hash,
    text_hash,
    write_json,
)


@dataclass(frozen=True, kw_only=True)
class SAETrainConfig:
    """A TopK SAE trained by sae-lens on one hook of a model."""

    expansion: int = 8
    """d_sae = expansion x d_model."""
    k: int = 16
    """Active features per token (TopK)."""
    training_tokens: int = 600_000
    batch_size_tokens: int = 1024
    lr: float = 1e-3
    seed: int = 0


def sae_training_texts(prompts: Sequence[Prompt]) -> list[str]:
    """The prompts as the analyses read them (chat-formatted by `token_activations`)."""
    return [p.prompt for p in prompts]


def activation_batches(
    acts: Float[Tensor, "n d_model"], *, batch_size: int, seed: int
) -> Iterator[Float[Tensor, "batch d_model"]]:
    """Endless shuffled batches of stored activations: sae-lens's trainer's data provider."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(acts.shape[0], generator=generator)
        for start in range(0, acts.shape[0] - batch_size + 1, batch_size):
            yield acts[order[start : start + batch_size]]


def train_sae(model, hook: str, texts: Sequence[str], cfg: SAETrainConfig = SAETrainConfig()):
    """Train a TopK SAE with sae-lens's `SAETrainer` (CPU, no wandb, no network).

    The activations are read once with the toolkit's engine (stopping at the hook's layer, the
    chat header left out) and fed to the trainer as shuffled batches: sae-lens's own store
    runs the whole model with its logits per batch, 392 tokens/s on SmolLM2 on 2 cores."""
    from sae_lens import LoggingConfig
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    torch.manual_seed(cfg.seed)
    acts = token_activations(model, texts, hook)
    device = str(next(model.parameters()).device)
    sae = TopKTrainingSAE(
        TopKTrainingSAEConfig(
            d_in=model.cfg.d_model,
            d_sae=cfg.expansion * model.cfg.d_model,
            k=cfg.k,
            # Residual norms differ by orders of magnitude between models; the scale is
            # estimated, trained under, then folded into the weights by the trainer.
            normalize_activations="expected_average_only_in",
            device=device,
        )
    )
    trainer_cfg = SAETrainerConfig(
        total_training_samples=cfg.training_tokens,
        train_batch_size_samples=cfg.batch_size_tokens,
        lr=cfg.lr,
        lr_end=cfg.lr / 10,  # what sae-lens's runner config sets when none is given
        lr_warm_up_steps=10,
        device=device,
        logger=LoggingConfig(log_to_wandb=False),
        n_batches_for_norm_estimate=10,
    )
    # What sae-lens's own runner records, so `SAE.load_from_disk` users see where it reads.
    sae.cfg.metadata.hook_name = hook
    sae.cfg.metadata.model_name = getattr(model.cfg, "model_name", None)
    sae.cfg.metadata.prepend_bos = False
    batches = activation_batches(acts.to(device), batch_size=cfg.batch_size_tokens, seed=cfg.seed)
    previous = logging.getLogger("sae_lens").level
    logging.getLogger("sae_lens").setLevel(logging.ERROR)
    try:
        trained = SAETrainer(cfg=trainer_cfg, sae=sae, data_provider=batches).fit()
    finally:
        logging.getLogger("sae_lens").setLevel(previous)
    return _as_inference_sae(trained)


def _as_inference_sae(trained):
    """The inference SAE sae-lens itself would save and load (decoder processing included)."""
    from sae_lens import SAE

    with tempfile.TemporaryDirectory() as tmp:
        trained.save_inference_model(tmp)
        sae = SAE.load_from_disk(tmp, device=str(trained.W_dec.device))
    sae.eval()
    return sae


@dataclass(frozen=True)
class ReconstructionReport:
    explained_variance: float
    mean_l0: float
    dead_fraction: float
    """Share of features that never fire on the evaluation activations."""

    def to_dict(self) -> dict:
        return asdict(self)


@torch.inference_mode()
def header_length(tokenizer) -> int:
    """Tokens every chat-formatted prompt starts with (system turn, role markers) before the
    user's text: the same in every prompt, so an SAE trained on them learns one point."""
    marker = "mechrefusalheadermarker"
    header = format_prompt(tokenizer, marker).split(marker, 1)[0]
    return len(tokenizer.encode(header, add_special_tokens=False)) if header else 0


def token_activations(
    model, texts: Sequence[str], hook: str, *, batch_size: int = 32
) -> Float[Tensor, "n_tokens d_model"]:
    """Activations at every real (non-pad) token of chat-formatted prompts after the chat
    header (`header_length`): what an SAE sees. The header is the same in every
    prompt, and on SmolLM2 it is over half the tokens and holds the attention-sink norms."""
    if not texts:
        raise ValueError("Empty prompt set: no tokens to read.")
    rows: dict[int, Tensor] = {}
    device = next(model.parameters()).device
    header = header_length(model.tokenizer)
    # Batches cut from the length order pad little, and the header every row starts with runs
    # once per batch (`shared_prefix`); the rows come back in the prompts' order.
    order = length_order(model.tokenizer, list(texts))
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        tokens, mask = tokenize_prompts(
            model.tokenizer, [texts[i] for i in chosen], n_ctx=model.cfg.n_ctx
        )
        cache = shared_prefix.run_with_cache(
            model,
            tokens.to(device),
            mask.to(device),
            [hook],
            stop_at_layer=stop_layer_for([hook]),
        )
        index = mask.cumsum(-1) - 1  # each real token's position in its own prompt
        keep = (mask.bool() & (index >= header)).to(device)
        for row, i in enumerate(chosen):
            rows[i] = cache[hook][row][keep[row]].float().cpu()
    return torch.cat([rows[i] for i in range(len(texts))])


def stratified_sample(prompts: Sequence[Prompt], n: int, *, seed: int = 0) -> list[Prompt]:
    """Up to `n` prompts spread evenly over (kind, category) groups, seeded."""
    groups: dict[tuple, list[Prompt]] = {}
    for p in prompts:
        groups.setdefault((p.kind, p.category or ""), []).append(p)
    rng = random.Random(seed)
    per_group = max(1, n // max(len(groups), 1))
    return [
        p
        for key in sorted(groups)
        for p in rng.sample(groups[key], min(per_group, len(groups[key])))
    ]


@torch.no_grad()
def reconstruction_report(sae, acts: Float[Tensor, "n d_model"]) -> ReconstructionReport:
    """Explained variance, mean L0 and dead features of the SAE on held-out activations."""
    feats = sae.encode(acts)
    recon = sae.decode(feats)
    resid = (acts - recon).pow(2).sum()
    total = (acts - acts.mean(0)).pow(2).sum()
    return ReconstructionReport(
        explained_variance=float(1 - resid / total),
        mean_l0=float((feats > 0).float().sum(-1).mean()),
        dead_fraction=float(((feats > 0).sum(0) == 0).float().mean()),
    )


def save_sae(
    sae,
    directory: str | Path,
    *,
    fingerprint: ModelFingerprint,
    hook: str,
    report: ReconstructionReport,
    key: str | None = None,
) -> Path:
    """sae-lens's own format (weights + cfg) plus our metadata file beside it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    sae.save_model(str(directory))
    write_json(
        directory / "mechrefusal.json",
        {
            "kind": "sae",
            "hook": hook,
            "fingerprint": fingerprint.to_dict(),
            "report": report.to_dict(),
            "report_on": "every token after the chat header of a stratified sample of the training prompts",
            "key": key,
        },
    )
    return directory


def load_sae(directory: str | Path, *, fingerprint: ModelFingerprint):
    """Load an SAE saved by `save_sae`, refusing one made for another model."""
    from sae_lens import SAE

    directory = Path(directory)
    meta_path = directory / "mechrefusal.json"
    if not meta_path.exists():
        raise ArtifactError(
            f"No SAE metadata at {meta_path}; train it with experiments/05_sae_features.py."
        )
    meta = json.loads(meta_path.read_text())
    check_fingerprint(meta["fingerprint"], fingerprint, what=f"SAE {directory}")
    sae = SAE.load_from_disk(str(directory), device="cpu")
    sae.eval()
    return sae, meta


def check_sae_fits(sae, model, hook: str) -> None:
    """Refuse an SAE trained at another hook or on another residual width."""
    d_in = sae.cfg.d_in
    sae_hook = getattr(getattr(sae.cfg, "metadata", None), "hook_name", None)
    if d_in != model.cfg.d_model:
        raise ArtifactError(
            f"SAE d_in={d_in} does not fit a model with d_model={model.cfg.d_model}."
        )
    if sae_hook is not None and sae_hook != hook:
        raise ArtifactError(
            f"SAE was trained at {sae_hook!r}, not at {hook!r}: pick the release/id for this "
            "hook, or run with --layer matching the SAE."
        )


def load_pretrained_sae(release: str, sae_id: str, *, model, hook: str, device: str = "cpu"):
    """A pretrained sae-lens release for real models (needs the hub), checked against the
    model's width and the hook the analysis reads."""
    from sae_lens import SAE

    sae = SAE.from_pretrained(release, sae_id, device=device)
    check_sae_fits(sae, model, hook)
    return sae


def decoder_alignment(sae, directions: Float[Tensor, "n d_model"]) -> Float[Tensor, "n d_sae"]:
    """Cosine of each direction with every decoder row."""
    w_dec = sae.W_dec.detach().float()
    w_dec = w_dec / w_dec.norm(dim=-1, keepdim=True)
    dirs = directions.float() / directions.float().norm(dim=-1, keepdim=True)
    return einsum(dirs, w_dec, "n d_model, d_sae d_model -> n d_sae")


@torch.no_grad()
def feature_differences(
    sae, harmful: dict[str, Float[Tensor, "m d_model"]], benign: Float[Tensor, "b d_model"]
) -> Float[Tensor, "category d_sae"]:
    """Mean feature activation on harmful[c] minus on benign: the category direction in feature space."""
    benign_mean = sae.encode(benign).mean(0)
    return torch.stack([sae.encode(harmful[c]).mean(0) - benign_mean for c in harmful])


def top_features(scores: Float[Tensor, "category d_sae"], n: int) -> list[list[int]]:
    """The n features with the largest positive score, per category."""
    return scores.topk(n, dim=-1).indices.tolist()


def shared_and_specific(tops: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    """Features in the top lists of >= 2 categories, and each category's features found in no other list."""
    counts: dict[int, int] = {}
    for row in tops:
        for f in row:
            counts[f] = counts.get(f, 0) + 1
    shared = sorted(f for f, n in counts.items() if n >= 2)
    return shared, [[f for f in row if counts[f] == 1] for row in tops]


def rebuild_direction(
    sae, scores: Float[Tensor, " d_sae"], k: int, *, generator: torch.Generator | None = None
) -> Float[Tensor, " d_model"]:
    """Unit direction built from the top-k features: sum of their decoder rows weighted by score.
    With `generator`, k features drawn at random among the live ones (nonzero score: they fire
    on the prompts the scores were read from) instead: the control a rebuild must beat. Dead
    latents would make it a strawman (80% of SmolLM2's SAE is dead)."""
    if generator is None:
        chosen = scores.topk(k).indices
    else:
        live = scores.nonzero().flatten()
        chosen = live[torch.randperm(live.shape[0], generator=generator)[:k]]
    vec = einsum(scores[chosen], sae.W_dec.detach().float()[chosen], "k, k d_model -> d_model")
    return vec / vec.norm().clamp_min(1e-12)


@dataclass(frozen=True)
class FaithfulnessCurve:
    """Share of a direction's steering effect kept when it is rebuilt from its top-k SAE features."""

    category: str
    ks: list[int]
    effect_original: float
    effect_rebuilt: list[float]
    kept: list[float]
    cosine_to_original: list[float]
    kept_random: list[float]
    """Control: the same rebuild from k live features drawn at random (weighted by their scores)."""

    def to_dict(self) -> dict:
        return asdict(self)


def _share(effect: float, original: float) -> float:
    return effect / original if abs(original) > 1e-9 else float("nan")


def steering_faithfulness(
    model,
    sae,
    directions: DirectionSet,
    scores: Float[Tensor, "category d_sae"],
    prompts: Sequence[Prompt],
    *,
    ks: Sequence[int],
    coef: float,
    act_norm: float,
    sparse: bool = False,
    max_prompts: int = 64,
) -> list[FaithfulnessCurve]:
    """Steer harmful[c] eval prompts away from refusal with the original vs rebuilt direction.

    The effect is the mean drop of the refusal logit gap over the first `max_prompts` prompts of
    each category (a mean over 64 is steady; SmolLM2's eval split has 331 safety prompts and
    every curve point is a pass over them); `kept = effect_rebuilt / effect_original`.
    `kept_random` rebuilds from k random features (seeded), so "k features keep X%" can be read
    against what any k features keep.
    """
    with reused_prefix(model):
        return _faithfulness_curves(
            model, sae, directions, scores, prompts, ks, coef, act_norm, sparse, max_prompts
        )


def _push(hook: str, vector: Tensor):
    """A plan adding `vector` at the last prompt position (what `added_vectors` does for one
    first-token forward), so `reused_prefix` resumes from the residual below the hook."""
    fn = partial(add_vector_hook, vectors=vector, positions="last", calls=[0])
    return lambda items, tokens, mask: BatchPlan(hooks=[(hook, fn)], tail=1, live_rows_aware=True)


def _faithfulness_curves(
    model, sae, directions, scores, prompts, ks, coef, act_norm, sparse, max_prompts
) -> list[FaithfulnessCurve]:
    generator = torch.Generator().manual_seed(0)
    baseline_cache: dict[str, Tensor] = {}
    curves = []
    for i, c in enumerate(directions.categories):
        texts = [p.prompt for p in prompts if p.kind == "harmful" and p.category == c]
        texts = texts[:max_prompts]
        if not texts:
            continue
        baseline_cache[c] = refusal_logit_gap(model, texts)

        # Every curve point pushes the same prompts at the same hook: the blocks below it run
        # once per batch (`reused_prefix`), each point costs the blocks above it.
        def effect(vector: Tensor, texts=texts, c=c) -> float:
            plan = _push(directions.hook, coef * act_norm * vector)
            return float((baseline_cache[c] - refusal_logit_gap(model, texts, plan=plan)).mean())

        original = directions.vector(c, sparse=sparse)
        base_effect = effect(original)
        rebuilt = [rebuild_direction(sae, scores[i], k) for k in ks]
        effects = [effect(v) for v in rebuilt]
        random_effects = [
            effect(rebuild_direction(sae, scores[i], k, generator=generator)) for k in ks
        ]
        curves.append(
            FaithfulnessCurve(
                category=c,
                ks=list(ks),
                effect_original=base_effect,
                effect_rebuilt=effects,
                kept=[_share(e, base_effect) for e in effects],
                cosine_to_original=[float(v @ original / original.norm()) for v in rebuilt],
                kept_random=[_share(e, base_effect) for e in random_effects],
            )
        )
    return curves


def category_activations(
    model, prompts: Sequence[Prompt], hook: str, *, batch_size: int = 32
) -> tuple[dict[str, Tensor], Tensor]:
    """Last-position activations of harmful prompts by category, and of benign + contrast prompts."""
    harmful = {
        c: [p.prompt for p in prompts if p.kind == "harmful" and p.category == c]
        for c in CATEGORIES
    }
    harmful = {c: t for c, t in harmful.items() if t}
    benign = [p.prompt for p in prompts if p.kind in ("benign", "contrast")]
    if not harmful or not benign:
        raise ValueError("Empty prompt set: need harmful and benign/contrast prompts.")
    acts = {
        c: cache_activations(model, t, [hook], batch_size=batch_size, progress=False)[hook]
        for c, t in harmful.items()
    }
    return acts, cache_activations(model, benign, [hook], batch_size=batch_size, progress=False)[
        hook
    ]


def ensure_sae(
    model,
    fingerprint: ModelFingerprint,
    hook: str,
    train_prompts: Sequence[Prompt],
    directory: str | Path,
    cfg: SAETrainConfig = SAETrainConfig(),
):
    """Load the SAE cached in `directory` if it was made from the same config, prompts and
    code; else train it on `train_prompts` and save it there."""
    directory = Path(directory)
    with distributed.main_first():  # rank 0 trains and saves; the other ranks then load it
        return _load_or_train_sae(model, fingerprint, hook, train_prompts, directory, cfg)


def _load_or_train_sae(model, fingerprint, hook, train_prompts, directory: Path, cfg):
    key = text_hash(
        [json.dumps(asdict(cfg), sort_keys=True), source_hash(), hook]
        + [p.prompt for p in train_prompts]
    )
    if (directory / "mechrefusal.json").exists():
        sae, meta = load_sae(directory, fingerprint=fingerprint)
        if meta.get("key") == key:
            check_sae_fits(sae, model, hook)
            return sae
    sae = train_sae(model, hook, sae_training_texts(train_prompts), cfg)
    if not distributed.is_main():  # only reached if rank 0's copy did not fit: use, don't write
        return sae
    # The saved report: every position of a sample spread over kinds and categories.
    sample = stratified_sample(train_prompts, 512, seed=cfg.seed)
    acts = token_activations(model, [p.prompt for p in sample], hook)
    save_sae(
        sae,
        directory,
        fingerprint=fingerprint,
        hook=hook,
        report=reconstruction_report(sae, acts),
        key=key,
    )
    return sae


MIN_EXPLAINED_VARIANCE = 0.6
"""Below this share of held-out variance, a feature is as much the SAE's error as the model's
signal: fig 05 then reports the SAE's quality and shows no features (fixed before any real-model
SAE was trained, not tuned to one)."""


@dataclass(frozen=True)
class SAEFeatureResult:
    """Everything fig 05 shows."""

    categories: list[str]
    reconstruction: dict
    interpretable: bool
    """Held-out explained variance (every token) at least `MIN_EXPLAINED_VARIANCE`."""
    top_features: list[list[int]]
    shared_features: list[int]
    specific_features: list[list[int]]
    shown_features: list[int]
    shown_matrix: list[list[float]]
    """[category][shown feature]: mean activation difference."""
    decoder_alignment_top: list[list[int]]
    """Per category, the decoder rows best aligned with the (dense) direction."""
    faithfulness: list[dict]

    def to_dict(self) -> dict:
        return asdict(self)


def sae_feature_view(
    model,
    sae,
    directions: DirectionSet,
    direction_prompts: Sequence[Prompt],
    eval_prompts: Sequence[Prompt],
    *,
    top: int,
    ks: Sequence[int],
    coef: float,
    batch_size: int = 32,
) -> SAEFeatureResult:
    """Feature x category matrix, top/shared/specific features, reconstruction and rebuild faithfulness."""
    harm, benign = category_activations(
        model, direction_prompts, directions.hook, batch_size=batch_size
    )
    cats = [c for c in directions.categories if c in harm]
    scores = feature_differences(sae, {c: harm[c] for c in cats}, benign)
    tops = top_features(scores, top)
    shared, specific = shared_and_specific(tops)
    shown = list(dict.fromkeys(f for row in tops for f in row))
    acts = torch.cat([*harm.values(), benign])
    norm = float(acts.norm(dim=-1).mean())
    held_out = [p.prompt for p in stratified_sample(eval_prompts, 512)]
    curves = steering_faithfulness(
        model, sae, directions, scores, eval_prompts, ks=ks, coef=coef, act_norm=norm
    )
    align = decoder_alignment(sae, torch.stack([directions.vector(c, sparse=False) for c in cats]))
    report = reconstruction_report(
        sae, token_activations(model, held_out, directions.hook, batch_size=batch_size)
    )
    return SAEFeatureResult(
        categories=cats,
        interpretable=report.explained_variance >= MIN_EXPLAINED_VARIANCE,
        reconstruction={
            **report.to_dict(),
            "on": f"every token after the chat header of {len(held_out)} eval-split prompts (held out)",
            "last_position": reconstruction_report(
                sae,
                cache_activations(
                    model, held_out, [directions.hook], batch_size=batch_size, progress=False
                )[directions.hook],
            ).to_dict(),
        },
        top_features=tops,
        shared_features=shared,
        specific_features=specific,
        shown_features=shown,
        shown_matrix=scores[:, shown].tolist(),
        decoder_alignment_top=align.topk(top, dim=-1).indices.tolist(),
        faithfulness=[c.to_dict() for c in curves],
    )
