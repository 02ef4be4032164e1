"""Linear probes on cached activations: harmful-vs-benign routing and category read-out.

A probe standardises its inputs with the *training* mean and scale and applies the same
transform at inference (the ICML code centred in training but not at inference: docs/method.md,
"Differences from the original code"). The harmful threshold is tuned on a held-out part for a target false-positive rate,
not on the evaluation prompts. Saved as safetensors + JSON.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import einsum

from mechrefusal._typing import Float, Int, Tensor, typechecked
from mechrefusal.store.artifacts import (
    ArtifactError,
    ModelFingerprint,
    load_artifact,
    save_artifact,
)


@dataclass(frozen=True, kw_only=True)
class LinearProbe:
    """Multinomial logistic regression on standardised activations."""

    weight: Float[Tensor, "n_classes d_model"]
    bias: Float[Tensor, " n_classes"]
    mean: Float[Tensor, " d_model"]
    scale: Float[Tensor, " d_model"]

    def logits(self, acts: Float[Tensor, "batch d_model"]) -> Float[Tensor, "batch n_classes"]:
        if acts.shape[-1] != self.mean.shape[0]:
            raise ValueError(
                f"Probe expects width {self.mean.shape[0]}, got activations of width {acts.shape[-1]}."
            )
        z = (acts.float() - self.mean) / self.scale
        return (
            einsum(z, self.weight, "batch d_model, n_classes d_model -> batch n_classes")
            + self.bias
        )

    def predict(self, acts: Float[Tensor, "batch d_model"]) -> Int[Tensor, " batch"]:
        return self.logits(acts).argmax(-1)

    def save(
        self, stem: str | Path, fingerprint: ModelFingerprint, *, metadata: dict | None = None
    ) -> Path:
        return save_artifact(
            stem,
            {"weight": self.weight, "bias": self.bias, "mean": self.mean, "scale": self.scale},
            kind="linear_probe",
            fingerprint=fingerprint,
            metadata=metadata or {},
        )

    @classmethod
    def load(
        cls, stem: str | Path, fingerprint: ModelFingerprint, *, kind: str = "linear_probe"
    ) -> tuple["LinearProbe", dict]:
        """The probe and its metadata, checked against the model (fingerprint and width)."""
        t, meta = load_artifact(stem, kind=kind, fingerprint=fingerprint)
        if t["mean"].shape[0] != fingerprint.d_model:
            raise ArtifactError(
                f"Probe width {t['mean'].shape[0]} != model d_model {fingerprint.d_model}."
            )
        return cls(weight=t["weight"], bias=t["bias"], mean=t["mean"], scale=t["scale"]), meta


@typechecked
def train_probe(
    acts: Float[Tensor, "n d_model"],
    labels: Int[Tensor, " n"],
    *,
    n_classes: int,
    weight_decay: float = 1e-3,
    steps: int = 200,
    seed: int = 0,
    weights: Float[Tensor, " n"] | None = None,
) -> LinearProbe:
    """Full-batch L-BFGS logistic regression; small, deterministic, no sklearn needed.
    `weights` (one per row) weigh the rows' losses, e.g. hard negatives counted several times."""
    if acts.shape[0] < 2:
        raise ValueError("Need at least two examples to train a probe.")
    if int(labels.max()) >= n_classes or int(labels.min()) < 0:
        raise ValueError(f"Labels must be in [0, {n_classes}).")
    torch.manual_seed(seed)
    x = acts.float()
    mean, scale = x.mean(0), x.std(0).clamp_min(1e-6)
    z = (x - mean) / scale
    weight = torch.zeros(n_classes, x.shape[1], requires_grad=True)
    bias = torch.zeros(n_classes, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], lr=1, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = z @ weight.T + bias
        if weights is None:
            fit = F.cross_entropy(logits, labels)
        else:
            fit = (
                F.cross_entropy(logits, labels, reduction="none") * weights
            ).sum() / weights.sum()
        loss = fit + weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return LinearProbe(weight=weight.detach(), bias=bias.detach(), mean=mean, scale=scale)


def accuracy(
    probe: LinearProbe, acts: Float[Tensor, "n d_model"], labels: Int[Tensor, " n"]
) -> float:
    return float((probe.predict(acts) == labels).float().mean())


@dataclass(frozen=True, kw_only=True)
class HarmProbe:
    """Binary harmful-vs-benign probe with a threshold on P(harmful) tuned for a target FPR."""

    probe: LinearProbe
    threshold: float
    target_fpr: float
    held_out_fpr: float
    held_out_tpr: float
    provenance: dict = field(default_factory=dict)
    """What it was fit on (prompt-set hash, seed, position), saved with it."""

    def p_harmful(self, acts: Float[Tensor, "batch d_model"]) -> Float[Tensor, " batch"]:
        return self.probe.logits(acts).softmax(-1)[:, 1]

    def is_harmful(self, acts: Float[Tensor, "batch d_model"]) -> torch.Tensor:
        return self.p_harmful(acts) >= self.threshold

    def save(self, stem: str | Path, fingerprint: ModelFingerprint, *, hook: str) -> Path:
        return save_artifact(
            stem,
            {
                "weight": self.probe.weight,
                "bias": self.probe.bias,
                "mean": self.probe.mean,
                "scale": self.probe.scale,
            },
            kind="harm_probe",
            fingerprint=fingerprint,
            metadata={
                "hook": hook,
                "threshold": self.threshold,
                "target_fpr": self.target_fpr,
                "held_out_fpr": self.held_out_fpr,
                "held_out_tpr": self.held_out_tpr,
                "provenance": self.provenance,
            },
        )

    @classmethod
    def load(cls, stem: str | Path, fingerprint: ModelFingerprint) -> "HarmProbe":
        probe, meta = LinearProbe.load(stem, fingerprint, kind="harm_probe")
        return cls(
            probe=probe,
            threshold=meta["threshold"],
            target_fpr=meta["target_fpr"],
            held_out_fpr=meta["held_out_fpr"],
            held_out_tpr=meta["held_out_tpr"],
            provenance=meta.get("provenance", {}),
        )


def split_indices(n: int, held_out: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded random split of range(n) into (train, held-out) index tensors."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_out = max(1, int(n * held_out))
    return perm[n_out:], perm[:n_out]


def group_split_indices(
    groups: Sequence[str], held_out: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded split of rows into (train, held-out) by whole groups: groups are drawn in a
    seeded order until at least `held_out` of the rows are held out, so no group (a sentence
    frame) has rows on both sides."""
    names = sorted(set(groups))
    if len(names) < 2:
        raise ValueError("Holding out by group needs at least two groups (e.g. two templates).")
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed)).tolist()
    chosen: set[str] = set()
    held = 0
    for i in order[:-1]:  # always leave one group to train on
        if held >= held_out * len(groups):
            break
        chosen.add(names[i])
        held += sum(g == names[i] for g in groups)
    test = [i for i, g in enumerate(groups) if g in chosen]
    train = [i for i, g in enumerate(groups) if g not in chosen]
    return torch.tensor(train, dtype=torch.long), torch.tensor(test, dtype=torch.long)


@typechecked
def train_harm_probe(
    harmful: Float[Tensor, "n_harm d_model"],
    benign: Float[Tensor, "n_benign d_model"],
    *,
    target_fpr: float = 0.02,
    held_out: float = 0.25,
    seed: int = 0,
    groups: Sequence[str] | None = None,
) -> HarmProbe:
    """Train on part of the data; pick the lowest threshold whose held-out FPR <= target.

    With `groups` (one per row, harmful rows first), whole groups are held out
    (`group_split_indices`): the threshold is then calibrated on sentence frames the probe never
    saw, as evaluation prompts are, not on new fillings of frames it was fit on."""
    acts = torch.cat([harmful, benign])
    labels = torch.cat(
        [torch.ones(len(harmful), dtype=torch.long), torch.zeros(len(benign), dtype=torch.long)]
    )
    if groups is not None and len(groups) != len(acts):
        raise ValueError(
            f"groups has {len(groups)} entries for {len(acts)} rows; give one per row."
        )
    train, test = (
        split_indices(len(acts), held_out, seed)
        if groups is None
        else group_split_indices(groups, held_out, seed)
    )
    probe = train_probe(acts[train], labels[train], n_classes=2, seed=seed)
    p = probe.logits(acts[test]).softmax(-1)[:, 1]
    y = labels[test]
    neg = p[y == 0].sort(descending=True).values
    allowed = int(target_fpr * len(neg))
    threshold = float(neg[allowed]) + 1e-6 if len(neg) > allowed else 0.5
    fpr = float((p[y == 0] >= threshold).float().mean()) if (y == 0).any() else 0.0
    tpr = float((p[y == 1] >= threshold).float().mean()) if (y == 1).any() else 0.0
    return HarmProbe(
        probe=probe, threshold=threshold, target_fpr=target_fpr, held_out_fpr=fpr, held_out_tpr=tpr
    )
