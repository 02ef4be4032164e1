"""Low-rank whitened combination of category vectors, trained against the frozen model (docs/method.md, "Steering methods compared").

The ICML extension learns one steering vector in the span of the whitened category vectors:
whiten the residual stream (`whitening`), take the QR basis Q of the whitened vectors, and
train coefficients `a` so that adding `u = Q a` at the steering hook raises the refusal-token
probability on harmful prompts while keeping benign prompts' next-token distribution
(loss = -log P(any refusal token | harmful) + lambda * KL(p_base || p_steered | benign)).

Done right here: `u` is mapped back from whitened to residual coordinates before it is added
(`unwhiten=True`: `u = W^-1 Q a`, a combination of the original category vectors); the
original code added the whitened-coordinate vector `Q a` to the residual stream directly
(`unwhiten=False`, kept to show what that does). Training never sees eval prompts (the
original trained on its benchmark). Which non-eval prompts matters: on a model's own
fine-tuning prompts the refusal term is saturated (the organism's starts at ~1e-4, so the
gradient is noise that Adam amplifies into an arbitrary vector), so the scripts train on the
direction split, like every other fitted estimator. The trained vector steers through the same
probe routing as categorical steering (`as_directions`).
"""

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from mechrefusal import distributed
from mechrefusal._progress import tqdm
from mechrefusal._typing import Float, Tensor
from mechrefusal.analysis.activations import cache_activations
from mechrefusal.analysis.directions import DirectionSet, unit
from mechrefusal.categories import CATEGORIES, token_ids
from mechrefusal.data.chat import tokenize_prompts
from mechrefusal.data.prompts import Prompt
from mechrefusal.engine.generation import last_logits_from, model_device
from mechrefusal.engine.hooks import resid_resume_layer
from mechrefusal.engine.shared_prefix import stored_lower_blocks
from mechrefusal.steering.whitening import (
    ledoit_wolf_shrinkage,
    shrunk_covariance,
    steering_basis,
    whitening,
)
from mechrefusal.store.activation_store import default_store, entry_key, model_identity
from mechrefusal.store.artifacts import load_identified, save_artifact, source_hash, text_hash
from mechrefusal.store.residual_store import LOWRANK_DIR

KIND = "low_rank_steering"
"""Artifact kind of a stored training (`<activation store>/lowrank/`)."""


@dataclass(frozen=True, kw_only=True)
class LowRankConfig:
    steps: int = 120
    batch_size: int = 32
    lr: float = 0.05
    kl_weight: float = 1.0
    """lambda of the benign KL term (paper: 1.0)."""
    unwhiten: bool = True
    """Map the learned whitened vector back to residual coordinates (False: the original's bug)."""
    shrinkage: float | None = None
    """Covariance shrinkage towards a scaled identity; None: Ledoit-Wolf."""
    eps: float = 1e-4
    seed: int = 0


@dataclass(frozen=True, eq=False)
class LowRankSteering:
    """The trained vector (residual coordinates) and how it was found."""

    vector: Float[Tensor, " d_model"]
    coefficients: Float[Tensor, " category"]
    """Learned coordinates in the whitened QR basis."""
    hook: str
    config: LowRankConfig
    losses: list[float] = field(default_factory=list)
    """Per-step minibatch losses."""
    start_loss: float | None = None
    """The objective over all training prompts with no vector (near 0: refusal saturated)."""
    final_loss: float | None = None
    """The same with the trained vector."""
    shrinkage: float | None = None
    """The covariance shrinkage used (Ledoit-Wolf's value when the config left it to it)."""

    def as_directions(self, like: DirectionSet) -> DirectionSet:
        """A direction set whose every category row is the learned vector: routed by the same
        probes, the harm probe picks the sign and the category probe has nothing to choose."""
        rows = self.vector.to(like.dense.dtype).expand_as(like.dense).clone()
        return DirectionSet(
            categories=like.categories,
            dense=rows,
            sparse=unit(self.vector.to(like.dense.dtype)).expand_as(like.dense).clone(),
            global_dense=self.vector.to(like.dense.dtype),
            hook=like.hook,
            layer=like.layer,
            k=like.d_model,
            tau=0.0,
            metadata={**like.metadata, "method": "low-rank", "unwhiten": self.config.unwhiten},
        )

    def summary(self) -> dict:
        return {
            "hook": self.hook,
            "norm": float(self.vector.norm()),
            "coefficients": self.coefficients.tolist(),
            "start_loss": self.start_loss,
            "final_loss": self.final_loss,
            "unwhiten": self.config.unwhiten,
            "shrinkage": self.shrinkage,
            "steps": self.config.steps,
        }


@contextmanager
def frozen(model) -> Iterator[None]:
    """Parameters stop requiring grad for the block (gradients reach only the steering vector)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


@dataclass(frozen=True)
class _Chunk:
    """A fixed batch of training prompts: the residual stream where steering is added (computed
    once, no gradient) and the mask; only the blocks after the hook run at each step."""

    residual: Tensor
    mask: Tensor
    base: Tensor | None = None
    """Unsteered next-token log-probs (benign chunks: the KL reference)."""


def _resume_layer(hook: str) -> int:
    """The block the rest of the forward starts at, for a residual-stream hook."""
    start = resid_resume_layer(hook)
    if start is None:
        raise ValueError(
            f"Low-rank training steers the residual stream; {hook!r} is not a resid hook."
        )
    return start


def _last_logprobs(model, chunk: _Chunk, start: int, vector: Tensor | None = None) -> Tensor:
    residual = chunk.residual
    if vector is not None:
        last = torch.zeros(residual.shape[1], 1, dtype=residual.dtype, device=residual.device)
        last[-1] = 1.0
        residual = residual + last * vector.to(residual.device, residual.dtype)
    logits = last_logits_from(model, residual, start, chunk.mask)
    return F.log_softmax(logits.float(), dim=-1)


@torch.no_grad()
def _chunks(model, texts: list[str], size: int, start: int, with_base: bool) -> list[_Chunk]:
    device, model_id = model_device(model), model_identity(model)
    out = []
    for i in range(0, len(texts), size):
        tokens, mask = tokenize_prompts(model.tokenizer, texts[i : i + size], n_ctx=model.cfg.n_ctx)
        tokens, mask = tokens.to(device), mask.to(device)
        residual = stored_lower_blocks(model, tokens, mask, stop_at_layer=start, model_id=model_id)
        chunk = _Chunk(residual=residual, mask=mask)
        if with_base:
            chunk = _Chunk(residual=residual, mask=mask, base=_last_logprobs(model, chunk, start))
        out.append(chunk)
    return out


def train_low_rank(
    model,
    directions: DirectionSet,
    covariance_prompts: Sequence[Prompt],
    train_prompts: Sequence[Prompt],
    config: LowRankConfig = LowRankConfig(),
    *,
    progress: bool = True,
) -> LowRankSteering:
    """Fit the whitened combination of `directions`' sparse vectors on `train_prompts`.

    `covariance_prompts` (the direction split) give the whitening covariance at the hook;
    `train_prompts` (never eval; not prompts the model was fine-tuned on, where the refusal
    term is saturated) give harmful (refusal term) and benign/contrast (KL term) prompts.
    Coefficients start at zero, so the first step follows the refusal gradient.
    With the default activation store set (experiment scripts set it), the result is kept
    there and read back by later figures (SmolLM2: ~1.5 minutes of training each).
    """
    identity = _training_identity(model, directions, covariance_prompts, train_prompts, config)
    store = default_store()
    stem = None if store is None else store.root / LOWRANK_DIR / entry_key(identity)
    found = None if stem is None else load_identified(stem, kind=KIND, identity=identity)
    if found is not None:
        return _trained_from(*found, hook=directions.hook, config=config)
    trained = _train(model, directions, covariance_prompts, train_prompts, config, progress)
    if stem is not None and distributed.is_main():
        save_artifact(
            stem,
            {"vector": trained.vector, "coefficients": trained.coefficients},
            kind=KIND,
            metadata={
                "identity": identity,
                "losses": trained.losses,
                "start_loss": trained.start_loss,
                "final_loss": trained.final_loss,
                "shrinkage": trained.shrinkage,
            },
        )
    return trained


def _training_identity(model, directions, covariance_prompts, train_prompts, config) -> dict:
    """Everything a stored training's result depends on (its key is this dict's hash): the
    model (weight digest), the direction vectors, both prompt sets, the config, the source."""
    return {
        "model": model_identity(model),
        "hook": directions.hook,
        "sparse": hashlib.sha256(directions.sparse.float().cpu().numpy().tobytes()).hexdigest(),
        "covariance_prompts": text_hash([p.prompt for p in covariance_prompts]),
        "train_prompts": text_hash([f"{p.kind}\x1f{p.prompt}" for p in train_prompts]),
        "config": asdict(config),
        "code": source_hash(),
    }


def _trained_from(
    tensors: dict, meta: dict, *, hook: str, config: LowRankConfig
) -> LowRankSteering:
    return LowRankSteering(
        vector=tensors["vector"],
        coefficients=tensors["coefficients"],
        hook=hook,
        config=config,
        losses=meta["losses"],
        start_loss=meta["start_loss"],
        final_loss=meta["final_loss"],
        shrinkage=meta["shrinkage"],
    )


def _train(
    model,
    directions: DirectionSet,
    covariance_prompts: Sequence[Prompt],
    train_prompts: Sequence[Prompt],
    config: LowRankConfig,
    progress: bool,
) -> LowRankSteering:
    harmful = [p.prompt for p in train_prompts if p.kind == "harmful"]
    benign = [p.prompt for p in train_prompts if p.kind in ("benign", "contrast")]
    if not harmful or not benign:
        raise ValueError("Low-rank training needs harmful and benign/contrast training prompts.")
    hook = directions.hook
    acts = cache_activations(model, [p.prompt for p in covariance_prompts], [hook], progress=False)
    acts = acts[hook].double()
    shrinkage = ledoit_wolf_shrinkage(acts) if config.shrinkage is None else config.shrinkage
    cov = shrunk_covariance(acts, shrinkage)
    white = whitening(cov, eps=config.eps)
    basis, _ = steering_basis(directions.sparse.double(), white)
    back = white.unwhiten(basis.T).T if config.unwhiten else basis  # d_model x K
    back = back.float()
    gen = torch.Generator().manual_seed(config.seed)
    coefficients = torch.zeros(basis.shape[1], requires_grad=True)
    optimiser = torch.optim.Adam([coefficients], lr=config.lr)
    ids = token_ids(model.tokenizer)
    refusal_ids = torch.tensor([ids[c] for c in CATEGORIES])
    start = _resume_layer(hook)
    order = torch.randperm(len(harmful), generator=gen).tolist()
    harm_chunks = _chunks(model, [harmful[i] for i in order], config.batch_size, start, False)
    order = torch.randperm(len(benign), generator=gen).tolist()
    benign_chunks = _chunks(model, [benign[i] for i in order], config.batch_size, start, True)

    def refusal_term(vector, chunk: _Chunk) -> Tensor:
        lp = _last_logprobs(model, chunk, start, vector)
        return -lp[:, refusal_ids].logsumexp(-1).mean()

    def kl_term(vector, chunk: _Chunk) -> Tensor:
        steered = _last_logprobs(model, chunk, start, vector)
        return F.kl_div(steered, chunk.base, log_target=True, reduction="batchmean")

    def full_loss(vector) -> float:
        """The objective over every training prompt (row-weighted means; no gradient)."""

        def mean(term, chunks: list[_Chunk]) -> float:
            rows = sum(c.mask.shape[0] for c in chunks)
            return sum(float(term(vector, c)) * c.mask.shape[0] for c in chunks) / rows

        with torch.no_grad():
            return mean(refusal_term, harm_chunks) + config.kl_weight * mean(kl_term, benign_chunks)

    initial = full_loss(torch.zeros_like(back[:, 0]))
    losses = []
    with frozen(model):
        for _ in tqdm(range(config.steps), desc="low-rank", disable=not progress, leave=False):
            vector = back @ coefficients
            h = harm_chunks[int(torch.randint(len(harm_chunks), (1,), generator=gen))]
            b = benign_chunks[int(torch.randint(len(benign_chunks), (1,), generator=gen))]
            loss = refusal_term(vector, h) + config.kl_weight * kl_term(vector, b)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
    with torch.no_grad():
        vector = (back @ coefficients).detach()
    return LowRankSteering(
        vector=vector,
        coefficients=coefficients.detach(),
        hook=hook,
        config=config,
        losses=losses,
        start_loss=initial,
        final_loss=full_loss(vector) if config.steps else initial,
        shrinkage=shrinkage,
    )
