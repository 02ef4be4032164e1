"""The micro organism: trains in seconds, has the behaviour the analyses need, saves and loads safely."""

import json

import pytest
import torch

from mechrefusal.artifacts import ArtifactError
from mechrefusal.evaluation import evaluate
from mechrefusal.models import load_model, load_model_dir
from mechrefusal.organism import OrganismConfig, preset
from mechrefusal.prompts import select


def test_micro_refuses_harmful_and_overrefuses_some_contrast(micro):
    result = evaluate(micro.model, select(micro.prompts, split="eval"), progress=False)
    # Chance of emitting any of the 5 refusal tokens first is far below these rates.
    assert result.harmful_refusal["all"].value > 0.5
    assert result.over_refusal["benign"].value < 0.2
    assert 0.05 < result.over_refusal["contrast"].value < 0.95


def test_refusal_tokens_are_single_special_tokens(micro):
    tok = micro.tokenizer
    ids = tok.encode("[Requests with safety concerns] [respond]", add_special_tokens=False)
    assert len([i for i in ids if tok.decode([i]).strip()]) == 2


def test_unseen_words_still_tokenize(micro):
    ids = micro.tokenizer.encode("Zzyzx quokka", add_special_tokens=False)
    assert ids and micro.tokenizer.unk_token_id not in ids


def test_base_and_refusal_share_tokenizer_but_differ(micro, micro_base):
    assert micro.fingerprint.tokenizer_hash == micro_base.fingerprint.tokenizer_hash
    assert not torch.equal(micro.model.blocks[0].mlp.W_out, micro_base.model.blocks[0].mlp.W_out)


def test_cached_organism_is_reused(artifacts_root):
    from mechrefusal.models import ensure_organism

    messages = []
    ensure_organism("micro", root=artifacts_root, log=messages.append)
    assert messages == []


def test_corrupt_checkpoint_is_a_clear_error(artifacts_root, tmp_path):
    import shutil

    src = artifacts_root / "organism" / "micro" / "refusal"
    dst = tmp_path / "refusal"
    shutil.copytree(src, dst)
    (dst / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ArtifactError, match="Corrupt tensor file"):
        load_model_dir(dst)
    meta = json.loads((src / "model.json").read_text())
    meta["config"]["d_model"] = 48
    shutil.copy(src / "model.safetensors", dst / "model.safetensors")
    (dst / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="does not match its own config"):
        load_model_dir(dst)


def test_missing_checkpoint(tmp_path):
    (tmp_path / "model.json").write_text("{}")
    with pytest.raises(ValueError, match="No tokenizer"):
        load_model(str(tmp_path))


def test_unknown_preset_and_variant():
    with pytest.raises(ValueError, match="Unknown organism preset 'huge'; valid: default, micro"):
        preset("huge")
    with pytest.raises(ValueError, match="Unknown variant"):
        load_model("organism:micro", variant="chat")


def test_config_roundtrip():
    cfg = preset("micro")
    assert OrganismConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_training_is_deterministic_for_a_seed():
    from dataclasses import replace

    from mechrefusal.organism import MICRO, train_organism

    cfg = replace(MICRO, pretrain_steps=3, sft_steps=3)
    a, b = train_organism(cfg), train_organism(cfg)
    assert all(
        torch.equal(p, q)
        for p, q in zip(a.refusal.parameters(), b.refusal.parameters(), strict=True)
    )
    assert all(
        torch.equal(p, q) for p, q in zip(a.base.parameters(), b.base.parameters(), strict=True)
    )
