"""PCA and t-SNE embeddings, and category-separability scores (numbers only; docs/method.md, "Figures").

PCA is plain torch (SVD of the centred data). t-SNE uses scikit-learn with a perplexity that
is clipped to what the number of points allows. Separability is reported as the silhouette
score (the paper's clustering metric) and, more usefully, as held-out linear-probe accuracy.
"""

import random
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score

from mechrefusal._typing import Float, Int, Tensor, typechecked
from mechrefusal.analysis.probe import accuracy, split_indices, train_probe


@dataclass(frozen=True)
class PCAResult:
    coords: Float[Tensor, "n n_components"]
    explained_variance_ratio: Float[Tensor, " n_components"]


@typechecked
def pca(points: Float[Tensor, "n d_model"], n_components: int = 2) -> PCAResult:
    """Principal components via SVD of the centred points."""
    if points.shape[0] < 2:
        raise ValueError("PCA needs at least two points.")
    x = points.double() - points.double().mean(0)
    u, s, _ = torch.linalg.svd(x, full_matrices=False)
    n_components = min(n_components, s.shape[0])
    var = s.pow(2)
    return PCAResult(
        coords=(u[:, :n_components] * s[:n_components]).float(),
        explained_variance_ratio=(var[:n_components] / var.sum()).float(),
    )


@typechecked
def tsne(
    points: Float[Tensor, "n d_model"], *, perplexity: float = 30.0, seed: int = 0
) -> Float[Tensor, "n 2"]:
    """2-D t-SNE, perplexity clipped below the number of points (sklearn requires it)."""
    n = points.shape[0]
    if n < 3:
        raise ValueError("t-SNE needs at least three points.")
    perplexity = min(perplexity, (n - 1) / 3)
    emb = TSNE(
        n_components=2, perplexity=perplexity, random_state=seed, init="pca", learning_rate="auto"
    ).fit_transform(points.double().numpy())
    return torch.from_numpy(np.asarray(emb)).float()


def silhouette(points: Float[Tensor, "n d_model"], labels: Int[Tensor, " n"]) -> float:
    """Silhouette score of the labelled clusters (cosine distance, as directions matter)."""
    if len(set(labels.tolist())) < 2:
        raise ValueError("Silhouette needs at least two distinct labels.")
    return float(silhouette_score(points.double().numpy(), labels.numpy(), metric="cosine"))


def probe_separability(
    points: Float[Tensor, "n d_model"],
    labels: Int[Tensor, " n"],
    *,
    test_points: Float[Tensor, "m d_model"] | None = None,
    test_labels: Int[Tensor, " m"] | None = None,
    held_out: float = 0.3,
    seed: int = 0,
) -> float:
    """Accuracy of a linear probe predicting the label on held-out points: linear separability.

    With `test_points` (e.g. other templates) the probe trains on all `points` and is scored
    there; otherwise on a random `held_out` share of `points` (same templates: optimistic).
    """
    n_classes = int(max(labels.max(), test_labels.max() if test_labels is not None else 0)) + 1
    if test_points is not None and test_labels is not None:
        probe = train_probe(points, labels, n_classes=n_classes, seed=seed)
        return accuracy(probe, test_points, test_labels)
    train, test = split_indices(points.shape[0], held_out, seed)
    probe = train_probe(points[train], labels[train], n_classes=n_classes, seed=seed)
    return accuracy(probe, points[test], labels[test])


@dataclass(frozen=True)
class EmbeddingResult:
    """2-D views of a labelled point set, plus how separable the labels are."""

    labels: list[str]
    pca: Float[Tensor, "n 2"]
    tsne: Float[Tensor, "n 2"]
    explained_variance_ratio: list[float]
    silhouette: float
    probe_accuracy: float | None

    def to_dict(self) -> dict:
        return {
            "labels": self.labels,
            "pca": self.pca.tolist(),
            "tsne": self.tsne.tolist(),
            "explained_variance_ratio": self.explained_variance_ratio,
            "silhouette": self.silhouette,
            "probe_accuracy": self.probe_accuracy,
        }


def embed_points(
    points: Float[Tensor, "n d_model"],
    labels: list[str],
    *,
    perplexity: float = 30.0,
    seed: int = 0,
    with_probe: bool = True,
    held_out: tuple[Float[Tensor, "m d_model"], list[str]] | None = None,
) -> EmbeddingResult:
    """PCA + t-SNE of labelled points with silhouette and (optionally) the accuracy of a probe
    trained on them and scored on `held_out` (points, labels), e.g. prompts of other templates."""
    if len(labels) != points.shape[0]:
        raise ValueError(f"{len(labels)} labels for {points.shape[0]} points.")
    names = list(dict.fromkeys(labels))
    ids = torch.tensor([names.index(label) for label in labels])
    test = {}
    if held_out is not None:
        unknown = set(held_out[1]) - set(names)
        if unknown:
            raise ValueError(f"Held-out labels {sorted(unknown)} do not occur in the points.")
        test = {
            "test_points": held_out[0],
            "test_labels": torch.tensor([names.index(label) for label in held_out[1]]),
        }
    p = pca(points)
    return EmbeddingResult(
        labels=labels,
        pca=p.coords,
        tsne=tsne(points, perplexity=perplexity, seed=seed),
        explained_variance_ratio=p.explained_variance_ratio.tolist(),
        silhouette=silhouette(points, ids)
        if len(names) > 1 and len(labels) > len(names)
        else float("nan"),
        probe_accuracy=probe_separability(points, ids, seed=seed, **test) if with_probe else None,
    )


def group_prompts(prompts, *, max_per_group: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """(texts, group labels): harmful by category, then 'benign' and 'contrast', each capped."""
    rng = random.Random(seed)
    groups: dict[str, list[str]] = {}
    for p in prompts:
        key = p.category if p.kind == "harmful" else p.kind
        groups.setdefault(key, []).append(p.prompt)
    texts, labels = [], []
    for key in sorted(groups, key=lambda k: (k in ("benign", "contrast"), k)):
        chosen = (
            groups[key]
            if len(groups[key]) <= max_per_group
            else rng.sample(groups[key], max_per_group)
        )
        texts += chosen
        labels += [key] * len(chosen)
    return texts, labels
