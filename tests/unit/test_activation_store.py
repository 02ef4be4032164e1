"""The on-disk activation cache: keyed by model, prompts and hook; refuses what does not fit."""

import json

import pytest
import torch

from mechrefusal import distributed
from mechrefusal.analysis.activations import POSITIONS, cache_activations
from mechrefusal.store.activation_store import ActivationStore, weights_digest
from mechrefusal.store.artifacts import ArtifactError

HOOK = "blocks.0.hook_resid_post"
TEXTS = ["What is 2 plus 2?", "Tell me a story.", "Name a colour.", "Why is the sky blue?"]


def _cache(model, store, texts=TEXTS, hook=HOOK):
    return cache_activations(model, texts, [hook], batch_size=3, progress=False, store=store)[hook]


def test_second_call_reads_from_disk(tiny_model, tmp_path, monkeypatch):
    store = ActivationStore(tmp_path)
    first = _cache(tiny_model, store)
    _refuse_forwards(monkeypatch)
    torch.testing.assert_close(_cache(tiny_model, store), first)


def _refuse_forwards(monkeypatch):
    monkeypatch.setattr(
        "mechrefusal.analysis.activations._shard_at_positions",
        lambda *a, **k: pytest.fail("recomputed a cached entry"),
    )


def test_one_forward_stores_every_position(tiny_model, tmp_path, monkeypatch):
    """A router reads `last` and `prompt_end` of the same prompts: the second is on disk."""
    store = ActivationStore(tmp_path)
    _cache(tiny_model, store)
    expected = {
        p: cache_activations(tiny_model, TEXTS, [HOOK], position=p, store=None, progress=False)
        for p in POSITIONS
    }
    _refuse_forwards(monkeypatch)
    for p in POSITIONS:
        got = cache_activations(tiny_model, TEXTS, [HOOK], position=p, batch_size=3, store=store)
        torch.testing.assert_close(got[HOOK], expected[p][HOOK], atol=1e-5, rtol=1e-5)


def test_other_prompts_hooks_or_weights_miss(tiny_model, tmp_path):
    store = ActivationStore(tmp_path)
    _cache(tiny_model, store)
    _cache(tiny_model, store, texts=TEXTS[:3])
    _cache(tiny_model, store, hook="blocks.1.hook_resid_post")
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 3 * len(POSITIONS)
    before = weights_digest(tiny_model)
    with torch.no_grad():
        tiny_model.blocks[0].mlp.W_in.mul_(1.01)
    try:
        assert weights_digest(tiny_model) != before
        _cache(tiny_model, store)
        assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 4 * len(POSITIONS)
    finally:
        with torch.no_grad():
            tiny_model.blocks[0].mlp.W_in.div_(1.01)


def test_hooked_model_is_not_served_from_disk(tiny_model, tmp_path):
    store = ActivationStore(tmp_path)
    clean = _cache(tiny_model, store)

    def zero(act, hook):
        return torch.zeros_like(act)

    with tiny_model.hooks(fwd_hooks=[(HOOK, zero)]):
        hooked = _cache(tiny_model, store)
    assert hooked.abs().max() == 0 and clean.abs().max() > 0


def test_incomplete_entry_is_recomputed_and_bad_shard_refused(tiny_model, tmp_path):
    store = ActivationStore(tmp_path)
    first = _cache(tiny_model, store)
    (entry,) = [
        p
        for p in tmp_path.iterdir()
        if json.loads((p / "index.json").read_text())["identity"]["position"] == "last"
    ]
    (entry / "index.json").unlink()  # as if the run died before rank 0 wrote the index
    torch.testing.assert_close(_cache(tiny_model, store), first)
    index = json.loads((entry / "index.json").read_text())
    index["shards"][0]["rows"] = [0, 3]
    (entry / "index.json").write_text(json.dumps(index))
    with pytest.raises(ArtifactError, match="Delete the directory"):
        _cache(tiny_model, store)


@pytest.mark.parametrize("n_items,batch_size", [(10, 3), (2, 8), (64, 32), (0, 4)])
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_rank_blocks_tile_the_batches(monkeypatch, n_items, batch_size, size):
    seen = []
    for rank in range(size):
        monkeypatch.setattr(distributed, "_joined", lambda r=rank: distributed.World(r, size, r))
        seen += [list(r) for r in distributed.my_batch_rows(n_items, batch_size)]
    single = [list(range(s, min(s + batch_size, n_items))) for s in range(0, n_items, batch_size)]
    assert seen == single


def test_pruning_deletes_only_what_the_current_code_cannot_read(tiny_model, tmp_path):
    """An entry, residual or low-rank vector written by other code (its recorded code hash) or
    an entry never completed is stale; current ones stay readable. A dry run deletes nothing."""
    from mechrefusal.steering import lowrank
    from mechrefusal.store.activation_store import entry_key, model_identity
    from mechrefusal.store.artifacts import save_artifact, source_hash
    from mechrefusal.store.pruning import prune
    from mechrefusal.store.residual_store import (
        LOWRANK_DIR,
        RESIDUALS_DIR,
        read_residual,
        residual_identity,
        write_residual,
    )

    store = ActivationStore(tmp_path)
    _cache(tiny_model, store)
    old, unfinished, current = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    index = json.loads((old / "index.json").read_text())
    index["identity"]["code"] = "0" * 16
    (old / "index.json").write_text(json.dumps(index))
    (unfinished / "index.json").unlink()
    tokens = torch.tensor([[1, 2, 3]])
    now = residual_identity(model_identity(tiny_model), tokens, torch.ones_like(tokens), 0)
    before = {**now, "code": "0" * 16}
    residuals = tmp_path / RESIDUALS_DIR
    for identity in (now, before):
        write_residual(residuals, identity, torch.zeros(1, 3, tiny_model.cfg.d_model))
    stale_residual = residuals / f"{entry_key(before)}.json"
    # Low-rank vectors record the whole package's hash; a directory not named like an entry
    # is not the store's to delete.
    vectors = tmp_path / LOWRANK_DIR
    for code in (source_hash(), "0" * 16):
        save_artifact(
            vectors / code,
            {"v": torch.zeros(2)},
            kind=lowrank.KIND,
            metadata={"identity": {"code": code}},
        )
    (tmp_path / "notes").mkdir()

    listed = prune(tmp_path, dry_run=True)
    assert {e.paths[0] for e in listed} == {
        old,
        unfinished,
        stale_residual,
        vectors / ("0" * 16 + ".json"),
    }
    assert all(e.size > 0 for e in listed) and old.exists() and stale_residual.exists()
    prune(tmp_path)
    assert not old.exists() and not unfinished.exists()
    assert not stale_residual.exists() and not stale_residual.with_suffix(".safetensors").exists()
    assert (current / "index.json").exists() and read_residual(residuals, now) is not None
    assert (vectors / f"{source_hash()}.safetensors").exists() and (tmp_path / "notes").is_dir()
    assert prune(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="No activation store"):
        prune(tmp_path / "missing")
