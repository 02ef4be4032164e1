"""Pruning the on-disk activation store: entries that no request of the current code can hit.

Every activation entry, stored residual and trained low-rank vector is keyed by a hash that
includes the source of the code that computed it (`activation_store.ACTIVATION_MODULES`,
`residual_store.RESIDUAL_MODULES`, the whole package for `lowrank`), so a code change never
serves an old number, and never deletes one either:
each edit of those modules leaves a full copy of the store behind (about 1.4 GB after
`make figures`). This finds what is unreachable by what is recorded beside it: an entry whose
code hash is not today's, or an entry directory never completed (no `index.json`, a run that
died). Entries of a model since retrained carry today's code hash and are kept; delete the store
to drop those. Run it when nothing else writes to the store:

    python scripts/prune_activation_store.py [--store artifacts/activations] [--dry-run]
"""

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from mechrefusal.store import residual_store
from mechrefusal.store.activation_store import ACTIVATION_MODULES
from mechrefusal.store.artifacts import source_hash

FILE_STORES: dict[str, tuple[str, ...]] = {
    residual_store.RESIDUALS_DIR: residual_store.RESIDUAL_MODULES,
    residual_store.LOWRANK_DIR: (),
}
"""Subdirectories of single-file entries and the modules their code hash covers (none: the
whole package, as `lowrank` records it)."""
ENTRY_NAME = re.compile(r"[0-9a-f]{20}")
"""What `activation_store.entry_key` names an entry directory; nothing else is touched."""


@dataclass(frozen=True)
class StaleEntry:
    """One unreachable entry: its files, why it cannot be hit, and its bytes on disk."""

    paths: tuple[Path, ...]
    reason: str
    size: int


def _stale(paths: tuple[Path, ...], reason: str) -> StaleEntry:
    files = [f for p in paths for f in (p.rglob("*") if p.is_dir() else [p]) if f.is_file()]
    return StaleEntry(paths, reason, sum(f.stat().st_size for f in files))


def _recorded_code(metadata: Path) -> str | None:
    """The code hash an entry's JSON records, or None when the file cannot be read."""
    try:
        return json.loads(metadata.read_text())["identity"]["code"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return None


def _stale_activation_entries(root: Path, code: str) -> list[StaleEntry]:
    out = []
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        if not ENTRY_NAME.fullmatch(directory.name):
            continue
        index = directory / "index.json"
        if not index.exists():
            out.append(_stale((directory,), "incomplete (no index.json)"))
        elif (recorded := _recorded_code(index)) != code:
            out.append(_stale((directory,), f"activation code {recorded} (now {code})"))
    return out


def _stale_files(directory: Path, code: str) -> list[StaleEntry]:
    out = []
    for metadata in sorted(directory.glob("*.json")):
        if (recorded := _recorded_code(metadata)) != code:
            paths = (metadata, metadata.with_suffix(".safetensors"))
            out.append(_stale(paths, f"{directory.name} code {recorded} (now {code})"))
    return out


def stale_entries(root: str | Path) -> list[StaleEntry]:
    """Every entry under an activation store's `root` that the current code can never read."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"No activation store at {root}.")
    out = _stale_activation_entries(root, source_hash(*ACTIVATION_MODULES))
    for name, modules in FILE_STORES.items():
        out += _stale_files(root / name, source_hash(*modules))
    return out


def prune(root: str | Path, *, dry_run: bool = False) -> list[StaleEntry]:
    """Delete the stale entries under `root` (none with `dry_run`) and return them."""
    stale = stale_entries(root)
    if not dry_run:
        for entry in stale:
            for path in entry.paths:
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
    return stale
