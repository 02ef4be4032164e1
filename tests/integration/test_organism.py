"""The micro organism: trains in seconds, has the behaviour the analyses need, saves and loads safely."""

import json
from dataclasses import replace

import pytest
import torch

from mechrefusal.data.prompts import select
from mechrefusal.models.loading import load_model, load_model_dir
from mechrefusal.models.organism import OrganismConfig, preset
from mechrefusal.scoring.evaluation import evaluate
from mechrefusal.store.artifacts import ArtifactError


def test_micro_learns_refusal_tokens_and_overrefuses_some_contrast(micro):
    # On its training split the fine-tune must have taken: refusal tokens for harmful
    # prompts, [respond] for plain tasks, some over-refusal of contrast prompts.
    trained = evaluate(micro.model, select(micro.prompts, split="train"), progress=False)
    assert trained.harmful_refusal["all"].value > 0.9
    assert trained.over_refusal["benign"].value < 0.1
    assert 0.05 < trained.over_refusal["contrast"].value < 0.95
    # On the eval split (unseen templates, keywords, cues and names) the micro organism
    # generalises weakly, but far above chance (5 refusal tokens of ~900 ids).
    held_out = evaluate(micro.model, select(micro.prompts, split="eval"), progress=False)
    assert held_out.harmful_refusal["all"].value > 0.2


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


def test_control_model_is_the_same_fine_tune_without_tokens(artifacts_root, micro, micro_base):
    from mechrefusal.categories import REFUSAL_TOKENS, RESPOND_TOKEN
    from mechrefusal.engine.generation import generate_answers

    control = load_model("organism-control:micro", root=artifacts_root, log=lambda *_: None)
    assert control.fingerprint.tokenizer_hash == micro.fingerprint.tokenizer_hash
    for other in (micro, micro_base):
        assert not torch.equal(control.model.blocks[0].mlp.W_out, other.model.blocks[0].mlp.W_out)
    # Its answers never start with a category or [respond] token: it learned the texts only.
    prompts = [p.prompt for p in select(micro.prompts, split="train")[::10]]
    label_ids = {micro.tokenizer.convert_tokens_to_ids(t) for t in REFUSAL_TOKENS.values()}
    label_ids.add(micro.tokenizer.convert_tokens_to_ids(RESPOND_TOKEN))

    def first_ids(model) -> list[int]:
        gen = generate_answers(model, prompts, max_new_tokens=1, progress=False)
        return [ids[0] if ids else -1 for ids in gen.new_tokens]

    assert not label_ids & set(first_ids(control.model))
    assert set(first_ids(micro.model)) <= label_ids


def test_cached_organism_is_reused(artifacts_root):
    from mechrefusal.models.loading import ensure_organism

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
    with pytest.raises(ValueError, match="no control model"):
        load_model("smollm2", variant="control")
    with pytest.raises(ValueError, match="has no base variant"):
        load_model("owner/some-llama", variant="base")


def test_config_roundtrip():
    cfg = preset("micro")
    assert OrganismConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_training_is_deterministic_for_a_seed():
    from dataclasses import replace

    from mechrefusal.models.organism import MICRO, train_organism

    cfg = replace(MICRO, pretrain_steps=3, sft_steps=3)
    a, b = train_organism(cfg), train_organism(cfg)
    assert all(
        torch.equal(p, q)
        for p, q in zip(a.refusal.parameters(), b.refusal.parameters(), strict=True)
    )
    assert all(
        torch.equal(p, q) for p, q in zip(a.base.parameters(), b.base.parameters(), strict=True)
    )


def test_organism_cache_is_keyed_by_training_code(artifacts_root, tmp_path, monkeypatch):
    import json
    import shutil

    from mechrefusal.models import loading as models

    root = tmp_path / "root"
    shutil.copytree(artifacts_root / "organism" / "micro", root / "organism" / "micro")
    record = root / "organism" / "micro" / "organism.json"
    saved = json.loads(record.read_text())
    record.write_text(json.dumps({**saved, "source_hash": "0" * 16}))

    class Retrained(Exception):
        pass

    def refuse(cfg):
        raise Retrained

    monkeypatch.setattr(models, "train_organism", refuse)
    messages = []
    with pytest.raises(Retrained):
        models.ensure_organism("micro", root=root, log=messages.append)
    assert "another config or code" in messages[0]


def test_organism_trains_on_the_cpu_even_where_a_gpu_is_visible(monkeypatch):
    # TransformerLens puts a config without a device on cuda when torch says a GPU is there,
    # while the training batches are built on the CPU (a GPU machine failed this way).
    from mechrefusal.models.organism import MICRO, train_organism

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    trained = train_organism(replace(MICRO, pretrain_steps=2, sft_steps=2))
    for model in (trained.base, trained.refusal, trained.control):
        assert {p.device.type for p in model.parameters()} == {"cpu"}


def test_length_groups_give_the_whole_batch_gradient(micro):
    # Training runs a batch as length-sorted groups to pad less: the loss and every gradient
    # must be those of the one right-padded batch.
    import torch.nn.functional as F

    from mechrefusal.models.organism import _batch, _batch_loss_backward, _length_groups

    model, tok = micro.model, micro.tokenizer
    texts = [p.prompt for p in select(micro.prompts, split="train")[:9]]
    examples = [(tok.encode(t, add_special_tokens=False), 3) for t in texts]
    assert len({len(ids) for ids, _ in examples}) > 2  # the groups really differ in width
    groups = _length_groups(examples, 2)
    assert [len(g) for g in groups] == [5, 4]
    assert max(len(ids) for ids, _ in groups[0]) <= min(len(ids) for ids, _ in groups[1])

    model.zero_grad()
    tokens, mask = _batch(examples, tok.pad_token_id)
    whole = F.cross_entropy(model(tokens)[:, :-1][mask], tokens[:, 1:][mask])
    whole.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    grouped = _batch_loss_backward(model, examples, tok.pad_token_id, groups=2)
    assert grouped == pytest.approx(whole.item(), rel=1e-5)
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, expected[name], rtol=1e-4, atol=1e-6)
    model.zero_grad()
