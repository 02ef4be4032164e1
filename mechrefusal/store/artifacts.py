"""Artifacts on disk: safetensors tensors + a JSON metadata file, written atomically.

Every artifact (organism weights, direction sets, probes, SAEs, activation caches) is a pair
`name.safetensors` + `name.json`. The JSON records the artifact kind, the package version and
the `ModelFingerprint` of the model it was made for; loading compares that fingerprint with the
model at hand and refuses a mismatch, naming the field. Never pickle (docs/method.md, "Differences from the original code").
"""

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from mechrefusal._paths import PACKAGE_DIR
from mechrefusal._version import __version__


class ArtifactError(ValueError):
    """An artifact is missing, corrupt, or does not fit the model at hand."""


@dataclass(frozen=True, kw_only=True)
class ModelFingerprint:
    """What an artifact must agree on with the model it is loaded onto."""

    model_id: str
    """Where the model came from (organism preset, directory or HF id)."""
    d_model: int
    n_layers: int
    d_vocab: int
    tokenizer_hash: str
    """sha256 of the tokenizer's vocabulary (token string -> id), first 16 hex digits."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelFingerprint":
        return cls(**data)


def fingerprint_of(model, tokenizer=None, model_id: str | None = None) -> ModelFingerprint:
    """The fingerprint of a loaded model (tokenizer: the model's own when not given)."""
    return ModelFingerprint(
        model_id=model_id or getattr(model.cfg, "model_name", None) or "model",
        d_model=model.cfg.d_model,
        n_layers=model.cfg.n_layers,
        d_vocab=model.cfg.d_vocab,
        tokenizer_hash=tokenizer_hash(tokenizer if tokenizer is not None else model.tokenizer),
    )


def tokenizer_hash(tokenizer) -> str:
    """Hash the vocabulary so that two tokenizers that map text to ids differently differ."""
    vocab = sorted(tokenizer.get_vocab().items())
    return hashlib.sha256(json.dumps(vocab).encode()).hexdigest()[:16]


def text_hash(texts: list[str]) -> str:
    """Stable short hash of a list of strings (prompt sets)."""
    return hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:16]


def _module_path(name: str) -> Path:
    return PACKAGE_DIR.joinpath(*name.split(".")).with_suffix(".py")


def source_hash(*modules: str) -> str:
    """Hash of the named `mechrefusal` modules' source (all of them when none are named).

    Names are dotted paths inside the package (``"data.prompts"``). Caches and figures record
    the hash, so a change to the code that computed them makes them stale instead of silently
    reused.
    """
    if modules:
        names = sorted(modules)
    else:
        names = sorted(
            ".".join(p.relative_to(PACKAGE_DIR).with_suffix("").parts)
            for p in PACKAGE_DIR.rglob("*.py")
        )
    digest = hashlib.sha256()
    for name in names:
        path = _module_path(name)
        if not path.exists():
            raise ValueError(f"No module mechrefusal.{name} to hash.")
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def file_hash(path: str | Path) -> str:
    """Short sha256 of one file's bytes (experiment scripts, data files)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically write a JSON file (temp file, then rename)."""
    _atomic_write(Path(path), lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2) + "\n"))


def save_artifact(
    stem: str | Path,
    tensors: dict[str, torch.Tensor],
    *,
    kind: str,
    metadata: dict[str, Any],
    fingerprint: ModelFingerprint | None = None,
) -> Path:
    """Write `stem.safetensors` and `stem.json`; returns the safetensors path."""
    stem = Path(stem)
    bad = [k for k, v in tensors.items() if not torch.isfinite(v.float()).all()]
    if bad:
        raise ArtifactError(f"Refusing to save {kind!r}: tensors {bad} contain NaN or inf.")
    weights = stem.with_suffix(".safetensors")
    contiguous = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    _atomic_write(weights, lambda tmp: save_file(contiguous, tmp))
    meta = {
        "kind": kind,
        "mechrefusal_version": __version__,
        "fingerprint": fingerprint.to_dict() if fingerprint else None,
        **metadata,
    }
    write_json(stem.with_suffix(".json"), meta)
    return weights


def read_metadata(stem: str | Path) -> dict[str, Any]:
    """Read `stem.json`, with a clear error if it is missing or not JSON."""
    path = Path(stem).with_suffix(".json")
    if not path.exists():
        raise ArtifactError(f"No artifact metadata at {path}. Was the artifact saved there?")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ArtifactError(
            f"Corrupt artifact metadata {path}: {err}. Delete and rebuild."
        ) from err


def check_fingerprint(
    saved: dict[str, Any] | None, model_fp: ModelFingerprint, *, what: str
) -> None:
    """Raise if the saved fingerprint disagrees with the model's on any field that matters."""
    if saved is None:
        return
    for field in ("d_model", "n_layers", "d_vocab", "tokenizer_hash"):
        if saved.get(field) != getattr(model_fp, field):
            raise ArtifactError(
                f"{what} was made for another model: {field} is {saved.get(field)!r} in the "
                f"artifact but {getattr(model_fp, field)!r} for {model_fp.model_id!r}. "
                f"Recompute it for this model (artifact model: {saved.get('model_id')!r})."
            )


def load_artifact(
    stem: str | Path,
    *,
    kind: str,
    fingerprint: ModelFingerprint | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load tensors + metadata, checking the kind and (if given) the model fingerprint.

    Raises:
        ArtifactError: missing or corrupt files, wrong kind, or a model mismatch.
    """
    stem = Path(stem)
    meta = read_metadata(stem)
    if meta.get("kind") != kind:
        raise ArtifactError(f"{stem} holds a {meta.get('kind')!r} artifact, expected {kind!r}.")
    if fingerprint is not None:
        check_fingerprint(meta.get("fingerprint"), fingerprint, what=f"Artifact {stem}")
    weights = stem.with_suffix(".safetensors")
    if not weights.exists():
        raise ArtifactError(f"Missing tensor file {weights} (metadata exists). Rebuild it.")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise ArtifactError(f"Corrupt tensor file {weights}: {err}. Delete and rebuild.") from err
    return tensors, meta


def load_identified(
    stem: str | Path, *, kind: str, identity: Any
) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """A derived artifact saved with `metadata={"identity": ...}` (everything its numbers
    depend on), or None when none was written. One made for another identity (a hash collision
    or an edited file) raises, so a cache never serves numbers computed for something else."""
    stem = Path(stem)
    if not stem.with_suffix(".json").exists():
        return None
    tensors, meta = load_artifact(stem, kind=kind)
    if meta.get("identity") != identity:
        raise ArtifactError(
            f"Stored {kind} {stem} was written for another batch or model (hash collision or "
            "edited file). Delete it to recompute."
        )
    return tensors, meta
