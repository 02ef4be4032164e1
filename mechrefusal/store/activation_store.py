"""On-disk activation cache, written in per-rank shards and read back as one set.

An entry is one hook's activations for one prompt set on one model, at one position. Its key
hashes everything that fixes those numbers: the model (d_model, layers, vocabulary, tokenizer
hash and a digest of its weights, so a retrained model with the same shape misses), the prompt
texts, the hook, the position / format / appended token, and the source of the modules that
compute activations. Real-model figures then share activations instead of recomputing them.

Layout of an entry (`<root>/<key>/`): one `shard-<rank>-of-<world>.safetensors` + `.json` per
rank that held rows (its contiguous block of prompts), then `index.json`, written last by rank
0, listing the shards and their rows. An entry without an index is incomplete and is recomputed;
one whose index or shards disagree with the request raises `ArtifactError`. Reading needs every
shard under one path (a shared filesystem when ranks span nodes). Writes are atomic.
"""

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from mechrefusal import distributed
from mechrefusal._paths import default_artifacts
from mechrefusal._typing import Float, Tensor
from mechrefusal.store.artifacts import (
    ArtifactError,
    load_artifact,
    save_artifact,
    source_hash,
    text_hash,
    tokenizer_hash,
    write_json,
)


@dataclass(frozen=True)
class ActivationRequest:
    """Which prompts, read where: everything but the model and hooks that fixes the result."""

    prompts: list[str]
    position: str
    """'last', 'prompt_end' or 'mean' (`activations.POSITIONS`)."""
    fmt: str
    append: str | None
    batch_size: int
    progress: bool = True


ComputeShard = Callable[[list[str]], dict[str, Tensor | None]]
"""hooks -> this rank's rows of each (None where the rank got no batch)."""
ACTIVATION_MODULES = (
    "analysis.activations",
    "data.chat",
    "engine.hooks",
    "engine.shared_prefix",
    "store.activation_store",
)
"""Modules whose code decides what an activation is: part of every key."""

_SAMPLES_PER_TENSOR = 4096


def weights_digest(model) -> str:
    """A cheap digest of a model's weights: name, shape and a strided sample of each parameter.

    Fine-tuning changes (almost) every element, so a sample of a few thousand per tensor tells
    two checkpoints apart without hashing gigabytes.
    """
    digest = hashlib.sha256()
    for name, param in model.named_parameters():
        flat = param.detach().reshape(-1)
        step = max(1, flat.numel() // _SAMPLES_PER_TENSOR)
        sample = flat[::step].float().cpu().contiguous()
        digest.update(f"{name}{tuple(param.shape)}".encode() + sample.numpy().tobytes())
    return digest.hexdigest()[:16]


def model_identity(model) -> dict:
    return {
        "d_model": model.cfg.d_model,
        "n_layers": model.cfg.n_layers,
        "d_vocab": model.cfg.d_vocab,
        "tokenizer_hash": tokenizer_hash(model.tokenizer),
        "weights_digest": weights_digest(model),
    }


def entry_identity(model: dict, request: ActivationRequest, hook: str) -> dict:
    """Everything an entry's numbers depend on (its key is this dict's hash); `model` is
    `model_identity(model)`, computed once per request (its weight digest reads every tensor)."""
    return {
        "model": model,
        "prompts_hash": text_hash(request.prompts),
        "n_prompts": len(request.prompts),
        "hook": hook,
        "position": request.position,
        "fmt": request.fmt,
        "append": request.append,
        "code": source_hash(*ACTIVATION_MODULES),
    }


def entry_key(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


class ActivationStore:
    """A directory of cached activation entries (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ActivationStore({str(self.root)!r})"

    def fetch(
        self, model, request: ActivationRequest, hooks: Sequence[str], compute: ComputeShard
    ) -> dict[str, Float[Tensor, "n_prompts d_model"]]:
        """Activations for `hooks`: read from disk where cached, else computed by `compute`
        (this rank's shard), written as shards and gathered. Every rank returns the full set."""
        model_id = model_identity(model)
        identities = {h: entry_identity(model_id, request, h) for h in hooks}
        found = {h: self.read(identities[h]) for h in hooks}
        # Ranks must agree on what to compute (a rank that sees no entry computes for all).
        missing = sorted(
            set(distributed.all_gather_objects([h for h in hooks if found[h] is None]))
        )
        if missing:
            local = compute(missing)
            for h in missing:
                found[h] = self.write(identities[h], local[h], request)
        return {h: found[h] for h in hooks}

    def put(self, model, request: ActivationRequest, local: dict[str, Tensor | None]) -> None:
        """Store activations computed anyway (this rank's rows per hook), replacing any entry."""
        model_id = model_identity(model)
        for hook, rows in local.items():
            self._write_shard(entry_identity(model_id, request, hook), rows, request)

    def entry_dir(self, identity: dict) -> Path:
        return self.root / entry_key(identity)

    def read(self, identity: dict) -> Float[Tensor, "n_prompts d_model"] | None:
        """The cached activations of an entry, or None when it was never completed."""
        directory = self.entry_dir(identity)
        index_path = directory / "index.json"
        if not index_path.exists():
            return None
        index = json.loads(index_path.read_text())
        if index.get("identity") != identity:
            raise ArtifactError(
                f"Activation cache {directory} was written for another request (hash collision "
                "or edited index). Delete the directory to recompute it."
            )
        parts, expected_start = [], 0
        for shard in index["shards"]:
            tensors, meta = load_artifact(directory / shard["stem"], kind="activation_shard")
            start, stop = shard["rows"]
            acts = tensors["activations"]
            if (
                start != expected_start
                or acts.shape[0] != stop - start
                or meta["rows"]
                != [
                    start,
                    stop,
                ]
            ):
                raise ArtifactError(
                    f"Activation cache {directory}: shard {shard['stem']} does not hold rows "
                    f"{start}..{stop} in order. Delete the directory to recompute it."
                )
            parts.append(acts)
            expected_start = stop
        if expected_start != identity["n_prompts"]:
            raise ArtifactError(
                f"Activation cache {directory} covers {expected_start} of "
                f"{identity['n_prompts']} prompts. Delete the directory to recompute it."
            )
        return torch.cat(parts)

    def write(
        self,
        identity: dict,
        local: Float[Tensor, "rows d_model"] | None,
        request: ActivationRequest,
    ) -> Float[Tensor, "n_prompts d_model"]:
        """Write this rank's shard, then (rank 0, after every shard is written) the index.
        Returns the gathered activations of all ranks."""
        self._write_shard(identity, local, request)
        return distributed.all_gather_rows(local)

    def _write_shard(
        self,
        identity: dict,
        local: Float[Tensor, "rows d_model"] | None,
        request: ActivationRequest,
    ) -> None:
        """This rank's shard, then (rank 0, after every shard is written) the index."""
        directory = self.entry_dir(identity)
        w = distributed.world()
        rows = distributed.my_batch_rows(len(request.prompts), request.batch_size)
        shard = None
        if local is not None:
            if not torch.isfinite(local).all():
                raise ArtifactError(
                    f"Refusing to cache non-finite activations at {identity['hook']}."
                )
            span = [rows[0].start, rows[-1].stop]
            stem = f"shard-{w.rank:05d}-of-{w.size:05d}"
            save_artifact(
                directory / stem,
                {"activations": local},
                kind="activation_shard",
                metadata={"rows": span, "hook": identity["hook"]},
            )
            shard = {"stem": stem, "rows": span}
        shards = [s for s in distributed.all_gather_objects([shard]) if s is not None]
        if distributed.is_main():
            write_json(directory / "index.json", {"identity": identity, "shards": shards})


_UNSET = object()
_DEFAULT: object = _UNSET


def set_default_store(store: ActivationStore | None) -> None:
    """The store `cache_activations` uses when it is not given one (None: no disk cache)."""
    global _DEFAULT
    _DEFAULT = store


def default_store() -> ActivationStore | None:
    """The store set by `set_default_store`; until one is set, `<artifact store>/activations`
    (`_paths.default_artifacts`), so `compute_directions` and `fit_router` on the same prompts
    share one forward pass in the Python API as they do in the figures."""
    global _DEFAULT
    if _DEFAULT is _UNSET:
        _DEFAULT = ActivationStore(default_artifacts() / "activations")
    return _DEFAULT  # type: ignore[return-value]
