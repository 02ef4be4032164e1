"""Category refusal directions: difference in means, made sparse (docs/method.md, "Category directions").

`v_c = mean(acts[harmful_c]) - mean(acts[benign])` with means accumulated in float64 (the
difference of two large means loses precision in fp32); the paired variant takes the mean of
per-prompt differences between `[c]`- and `[respond]`-appended copies of the same prompts.
Sparse: zero |v| < tau, keep the top-K coordinates by magnitude, L2-normalise (paper: K=200
of 4096, tau=1e-3). A `DirectionSet` saves as safetensors + JSON and refuses to load onto a
model of another fingerprint or width.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from einops import einsum, reduce

from mechrefusal._typing import Float, Tensor, typechecked
from mechrefusal.analysis.activations import Position, cache_activations
from mechrefusal.categories import (
    CATEGORIES,
    REFUSAL_TOKENS,
    RESPOND_TOKEN,
    Category,
    parse_category,
)
from mechrefusal.data.chat import PromptFormat
from mechrefusal.data.prompts import Prompt
from mechrefusal.engine.hooks import Site, resolve_hook
from mechrefusal.store.artifacts import (
    ArtifactError,
    ModelFingerprint,
    load_artifact,
    save_artifact,
    text_hash,
)

PAPER_K_FRACTION = 200 / 4096
"""The paper's sparsity: 200 of Llama-3-8B's 4096 residual dimensions."""
MIN_DEFAULT_K = 32
"""Floor of the default k: on small models the paper's fraction leaves a handful of coordinates
(6 of 128), whose cosines measure support overlap rather than direction."""


@typechecked
def diff_in_means(
    harmful: Float[Tensor, "n_harm d_model"], benign: Float[Tensor, "n_benign d_model"]
) -> Float[Tensor, " d_model"]:
    """Mean harmful activation minus mean benign activation (float64 accumulation)."""
    if harmful.shape[0] == 0 or benign.shape[0] == 0:
        raise ValueError("Empty prompt set: diff in means needs at least one prompt on each side.")
    harm_mean = reduce(harmful.double(), "n d_model -> d_model", "mean")
    benign_mean = reduce(benign.double(), "n d_model -> d_model", "mean")
    return (harm_mean - benign_mean).to(harmful.dtype)


@typechecked
def paired_diff_in_means(
    with_category: Float[Tensor, "n_prompts d_model"],
    with_respond: Float[Tensor, "n_respond d_model"],
) -> Float[Tensor, " d_model"]:
    """Mean over prompts of (activation with `[c]` appended - activation with `[respond]` appended)."""
    if with_category.shape[0] == 0:
        raise ValueError("Empty prompt set: paired diff in means needs at least one prompt.")
    if with_category.shape != with_respond.shape:
        raise ValueError(
            f"Paired activations need one row per prompt in both sets, got "
            f"{tuple(with_category.shape)} and {tuple(with_respond.shape)}: cache the same "
            "prompts with the category token and with [respond] appended."
        )
    diffs = with_category.double() - with_respond.double()
    return reduce(diffs, "n d_model -> d_model", "mean").to(with_category.dtype)


def resolve_k(d_model: int, *, k: int | None = None, k_fraction: float | None = None) -> int:
    """Coordinates to keep: explicit `k`, a fraction of d_model, or by default the paper's fraction
    with a floor of `MIN_DEFAULT_K` (200 of 4096 on Llama-3-8B; 32 of 128 on the organism)."""
    if k is not None and k_fraction is not None:
        raise ValueError("Give k or k_fraction, not both.")
    if k is None and k_fraction is not None:
        k = max(1, round(k_fraction * d_model))
    elif k is None:
        k = max(round(PAPER_K_FRACTION * d_model), min(MIN_DEFAULT_K, d_model))
    if not 1 <= k <= d_model:
        raise ValueError(f"k must be in [1, d_model={d_model}], got {k}.")
    return k


@typechecked
def sparsify(
    direction: Float[Tensor, " d_model"], *, k: int, tau: float = 1e-3, eps: float = 1e-12
) -> Float[Tensor, " d_model"]:
    """Zero entries with |v| < tau, keep the top-k by magnitude, then L2-normalise."""
    if not 1 <= k <= direction.shape[0]:
        raise ValueError(f"k must be in [1, d_model={direction.shape[0]}], got {k}.")
    kept = torch.where(direction.abs() >= tau, direction, torch.zeros_like(direction))
    top = kept.abs().topk(k).indices
    sparse = torch.zeros_like(direction)
    sparse[top] = kept[top]
    norm = sparse.norm()
    if norm < eps:
        raise ValueError("Direction is all below tau: nothing left to normalise (lower tau).")
    return sparse / norm


@typechecked
def unit(direction: Float[Tensor, " d_model"], eps: float = 1e-12) -> Float[Tensor, " d_model"]:
    """L2-normalised copy of a direction."""
    return direction / direction.norm().clamp_min(eps)


@typechecked
def cosine_matrix(vectors: Float[Tensor, "n d_model"], eps: float = 1e-12) -> Float[Tensor, "n n"]:
    """Pairwise cosine similarity between rows."""
    normed = vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(eps)
    return einsum(normed, normed, "i d_model, j d_model -> i j")


@dataclass(frozen=True, kw_only=True)
class DirectionSet:
    """Per-category (and global) refusal directions at one hook."""

    categories: tuple[Category, ...]
    dense: Float[Tensor, "category d_model"]
    """Raw difference-in-means vectors (not normalised)."""
    sparse: Float[Tensor, "category d_model"]
    """Top-k, tau-thresholded, unit-norm vectors (the paper's steering vectors)."""
    global_dense: Float[Tensor, " d_model"]
    """All harmful prompts vs benign: the single refusal direction, for comparison."""
    hook: str
    layer: int
    k: int
    tau: float
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.categories) != self.dense.shape[0] or self.dense.shape != self.sparse.shape:
            raise ValueError("DirectionSet: categories, dense and sparse must agree in length.")

    @property
    def d_model(self) -> int:
        return self.dense.shape[1]

    def index(self, category: str) -> int:
        c = parse_category(category)
        if c not in self.categories:
            raise ValueError(f"No direction for {c!r}; this set has {', '.join(self.categories)}.")
        return self.categories.index(c)

    def vector(self, category: str, *, sparse: bool = True) -> Float[Tensor, " d_model"]:
        """Unit direction of one category (sparse by default)."""
        i = self.index(category)
        return self.sparse[i] if sparse else unit(self.dense[i])

    def unit_vectors(self, *, sparse: bool = True) -> Float[Tensor, "category d_model"]:
        return self.sparse if sparse else self.dense / self.dense.norm(dim=-1, keepdim=True)

    def global_unit(self) -> Float[Tensor, " d_model"]:
        return unit(self.global_dense)

    def save(self, stem: str | Path, fingerprint: ModelFingerprint) -> Path:
        return save_artifact(
            stem,
            {"dense": self.dense, "sparse": self.sparse, "global_dense": self.global_dense},
            kind="direction_set",
            fingerprint=fingerprint,
            metadata={
                "categories": list(self.categories),
                "hook": self.hook,
                "layer": self.layer,
                "k": self.k,
                "tau": self.tau,
                "d_model": self.d_model,
                **self.metadata,
            },
        )

    @classmethod
    def load(cls, stem: str | Path, fingerprint: ModelFingerprint) -> "DirectionSet":
        """Load and check it fits the model (fingerprint and width)."""
        tensors, meta = load_artifact(stem, kind="direction_set", fingerprint=fingerprint)
        if tensors["dense"].shape[1] != fingerprint.d_model:
            raise ArtifactError(
                f"Direction width {tensors['dense'].shape[1]} != model d_model {fingerprint.d_model}."
            )
        extra = {
            k: v
            for k, v in meta.items()
            if k
            not in {
                "categories",
                "hook",
                "layer",
                "k",
                "tau",
                "d_model",
                "kind",
                "fingerprint",
                "mechrefusal_version",
            }
        }
        return cls(
            categories=tuple(meta["categories"]),
            dense=tensors["dense"],
            sparse=tensors["sparse"],
            global_dense=tensors["global_dense"],
            hook=meta["hook"],
            layer=meta["layer"],
            k=meta["k"],
            tau=meta["tau"],
            metadata=extra,
        )


def _sparsified_set(
    cats: tuple[Category, ...],
    dense: Tensor,
    global_dense: Tensor,
    *,
    hook: str,
    layer: int,
    k: int,
    tau: float,
    metadata: dict | None,
) -> DirectionSet:
    """The DirectionSet of dense category vectors, with their sparse top-k unit versions."""
    return DirectionSet(
        categories=cats,
        dense=dense,
        sparse=torch.stack([sparsify(v, k=k, tau=tau) for v in dense]),
        global_dense=global_dense,
        hook=hook,
        layer=layer,
        k=k,
        tau=tau,
        metadata=metadata or {},
    )


def with_k(directions: DirectionSet, k: int) -> DirectionSet:
    """The same dense directions, re-sparsified to their top-k coordinates (K-sparsity curves)."""
    return _sparsified_set(
        directions.categories,
        directions.dense,
        directions.global_dense,
        hook=directions.hook,
        layer=directions.layer,
        k=k,
        tau=directions.tau,
        metadata=directions.metadata,
    )


def _present(acts: dict[Category, Tensor]) -> tuple[Category, ...]:
    cats = tuple(c for c in CATEGORIES if c in acts)
    if not cats:
        raise ValueError("Empty prompt set: no harmful activations for any category.")
    return cats


def directions_from_activations(
    harmful: dict[Category, Float[Tensor, "n d_model"]],
    benign: Float[Tensor, "n_benign d_model"],
    *,
    hook: str,
    layer: int,
    k: int,
    tau: float = 1e-3,
    metadata: dict | None = None,
) -> DirectionSet:
    """Build a DirectionSet from cached activations (categories in CATEGORIES order)."""
    cats = _present(harmful)
    dense = torch.stack([diff_in_means(harmful[c], benign) for c in cats])
    glob = diff_in_means(torch.cat([harmful[c] for c in cats]), benign)
    return _sparsified_set(
        cats, dense, glob, hook=hook, layer=layer, k=k, tau=tau, metadata=metadata
    )


def paired_directions_from_activations(
    with_category: dict[Category, Float[Tensor, "n d_model"]],
    with_respond: dict[Category, Float[Tensor, "n d_model"]],
    *,
    hook: str,
    layer: int,
    k: int,
    tau: float = 1e-3,
    metadata: dict | None = None,
) -> DirectionSet:
    """Paired variant: same prompts with `[c]` vs `[respond]` appended, mean of differences."""
    cats = _present(with_category)
    dense = torch.stack([paired_diff_in_means(with_category[c], with_respond[c]) for c in cats])
    glob = paired_diff_in_means(
        torch.cat([with_category[c] for c in cats]), torch.cat([with_respond[c] for c in cats])
    )
    return _sparsified_set(
        cats, dense, glob, hook=hook, layer=layer, k=k, tau=tau, metadata=metadata
    )


def sparse_overlap(vectors: Float[Tensor, "n d_model"]) -> list[tuple[int, int]]:
    """(coordinate, number of rows whose sparse support contains it), most shared first."""
    counts = (vectors != 0).sum(0)
    order = sorted(
        range(vectors.shape[1]), key=lambda i: (-int(counts[i]), -float(vectors[:, i].abs().sum()))
    )
    return [(i, int(counts[i])) for i in order if counts[i] > 0]


def compute_directions(
    model,
    prompts: Sequence[Prompt],
    *,
    layer: int,
    site: Site = "resid_post",
    position: Position = "last",
    k: int | None = None,
    k_fraction: float | None = None,
    tau: float = 1e-3,
    paired: bool = False,
    benign_kinds: tuple[str, ...] = ("benign", "contrast"),
    fmt: PromptFormat = "chat",
    batch_size: int = 32,
    progress: bool = True,
    seed: int | None = None,
) -> DirectionSet:
    """Category directions of `model` at (site, layer) from a prompt list (use the direction split).

    The prompt-set hash (and `seed`, when the caller has one) are saved with the set.

    Unpaired: harmful[c] vs all prompts of `benign_kinds` (the paper's benign set was CoCoNot
    contrast). Paired: each harmful[c] prompt with `[c]` vs `[respond]` appended.
    """
    hook, layer = resolve_hook(model, layer=layer, site=site)
    k = resolve_k(model.cfg.d_model, k=k, k_fraction=k_fraction)
    harmful = {
        c: [p.prompt for p in prompts if p.kind == "harmful" and p.category == c]
        for c in CATEGORIES
    }
    harmful = {c: texts for c, texts in harmful.items() if texts}
    if not harmful:
        raise ValueError("Empty prompt set: no harmful prompts to build directions from.")
    meta = {
        "position": position,
        "paired": paired,
        "fmt": fmt,
        "n_harmful": {c: len(t) for c, t in harmful.items()},
        "prompts_hash": text_hash([p.prompt for p in prompts]),
        "seed": seed,
    }

    def acts(texts: list[str], append: str | None = None) -> Tensor:
        return cache_activations(
            model,
            texts,
            [hook],
            position=position,
            fmt=fmt,
            append=append,
            batch_size=batch_size,
            progress=progress,
        )[hook]

    if paired:
        with_cat = {c: acts(t, REFUSAL_TOKENS[c]) for c, t in harmful.items()}
        with_resp = {c: acts(t, RESPOND_TOKEN) for c, t in harmful.items()}
        return paired_directions_from_activations(
            with_cat, with_resp, hook=hook, layer=layer, k=k, tau=tau, metadata=meta
        )
    benign = [p.prompt for p in prompts if p.kind in benign_kinds]
    if not benign:
        raise ValueError(
            f"Empty prompt set: no prompts of kinds {benign_kinds} for the benign mean."
        )
    meta["n_benign"] = len(benign)
    # One pass over harmful-then-benign prompts in their given order: the same prompt list the
    # layer sweep and the router cache, so an activation store serves all three.
    labelled = [p for p in prompts if p.kind == "harmful" and p.category in harmful]
    everything = acts([p.prompt for p in labelled] + benign)
    by_category = {
        c: everything[: len(labelled)][[i for i, p in enumerate(labelled) if p.category == c]]
        for c in harmful
    }
    return directions_from_activations(
        by_category,
        everything[len(labelled) :],
        hook=hook,
        layer=layer,
        k=k,
        tau=tau,
        metadata=meta,
    )


def offdiagonal_range(matrix: Float[Tensor, "n n"]) -> tuple[float, float]:
    """(min, max) of the off-diagonal entries of a square similarity matrix."""
    off = ~torch.eye(matrix.shape[0], dtype=torch.bool)
    return float(matrix[off].min()), float(matrix[off].max())


def shared_top_features(
    vectors: Float[Tensor, "category d_model"], n_features: int
) -> tuple[list[int], list[list[float]]]:
    """The coordinates most shared by the sparse supports (ties by total |value|) and |v_c[f]| for each.

    These are the paper's "features" (docs/method.md, "Category directions"): residual coordinates, not SAE latents.
    """
    features = [f for f, _ in sparse_overlap(vectors)[:n_features]]
    values = (
        vectors[:, features].abs().tolist() if features else [[] for _ in range(vectors.shape[0])]
    )
    return features, values


def random_directions(directions: DirectionSet, *, seed: int = 0) -> DirectionSet:
    """A control set: random Gaussian directions with the same categories, width and top-k
    sparsity, so steering with them adds vectors of the same norms in random directions."""
    gen = torch.Generator().manual_seed(seed)
    dense = torch.randn(directions.dense.shape, generator=gen, dtype=torch.float64).to(
        directions.dense.dtype
    )
    dense = dense * (directions.dense.norm(dim=-1, keepdim=True) / dense.norm(dim=-1, keepdim=True))
    glob = torch.randn(directions.d_model, generator=gen, dtype=torch.float64).to(dense.dtype)
    return _sparsified_set(
        directions.categories,
        dense,
        glob * directions.global_dense.norm() / glob.norm(),
        hook=directions.hook,
        layer=directions.layer,
        k=directions.k,
        tau=0.0,
        metadata={**directions.metadata, "random_control_seed": seed},
    )
