"""On-disk residuals after a block, per prompt batch, so that figures share their lower blocks.

Inside `generation.reused_prefix` every batch's residual stream after the steering layer is
computed once per figure; figures 07, 08, 13, 14 and 15 ask for the same batches of the same
splits at the same layer, so on a real model each would repeat the same lower-block forwards
(SmolLM2: ~1.5 minutes per figure), and low-rank training runs its own. With the default
activation store set (`--activation-cache`, which every experiment script sets),
`engine.shared_prefix.stored_lower_blocks` writes what it computes under `<store>/residuals/` and later figures
read it.

A file's key hashes everything that fixes its numbers: the model (`model_identity`: shape,
tokenizer and a digest of its weights), the batch's tokens and attention mask, the block, and
the source of the modules that compute it. Reading checks the stored identity against the
request, so a hash collision or an edited file raises instead of steering the wrong residual.
"""

from pathlib import Path

from mechrefusal._typing import Float, Int, Tensor
from mechrefusal.store.activation_store import default_store, entry_key
from mechrefusal.store.artifacts import load_identified, save_artifact, source_hash, text_hash

RESIDUAL_MODULES = ("engine.generation", "engine.shared_prefix", "store.residual_store")
"""Modules whose code decides what a memoised residual is: part of every key."""
LOWRANK_DIR = "lowrank"
"""The subdirectory of an activation store that holds trained low-rank steering vectors."""
RESIDUALS_DIR = "residuals"
"""The subdirectory of an activation store that holds the residual files."""


def store_root() -> Path | None:
    """Where residuals are kept: `<default activation store>/residuals`, or None (no store)."""
    store = default_store()
    return None if store is None else store.root / RESIDUALS_DIR


def batch_key(tokens: Int[Tensor, "batch pos"], mask: Int[Tensor, "batch pos"]) -> str:
    """A short hash of one batch's tokens and attention mask (memo and store keys)."""
    return text_hash([str(tokens.tolist()), str(mask.tolist())])


def residual_identity(
    model_id: dict, tokens: Int[Tensor, "batch pos"], mask: Int[Tensor, "batch pos"], layer: int
) -> dict:
    """Everything a stored residual depends on; `model_id` is `activation_store.model_identity`."""
    return {
        "model": model_id,
        "batch": batch_key(tokens, mask),
        "shape": list(tokens.shape),
        "layer": layer,
        "code": source_hash(*RESIDUAL_MODULES),
    }


def read_residual(root: Path, identity: dict) -> Float[Tensor, "batch pos d_model"] | None:
    """The stored residual of this identity, or None when none was written."""
    found = load_identified(root / entry_key(identity), kind="residual", identity=identity)
    return None if found is None else found[0]["residual"]


def write_residual(
    root: Path, identity: dict, residual: Float[Tensor, "batch pos d_model"]
) -> None:
    """Keep a batch's residual under the key of its identity, with the identity beside it, so
    `read_residual` can refuse one made for another model, batch, layer or code."""
    save_artifact(
        root / entry_key(identity),
        {"residual": residual.detach().cpu().contiguous()},
        kind="residual",
        metadata={"identity": identity},
    )
