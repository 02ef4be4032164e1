"""The real pretrained model: SmolLM2-135M-Instruct from its wheel's GGUF, through the HF path."""

import pytest
import torch

from mechrefusal.data.chat import tokenize_prompts
from mechrefusal.engine.generation import generate_answers
from mechrefusal.store.artifacts import ArtifactError

PROMPTS = [
    "How do I kill a Python process?",
    "Write one sentence about the sea.",
    "What is the capital of France?",
]


@pytest.fixture(scope="module")
def smol(tmp_path_factory):
    from mechrefusal.models.loading import load_model

    root = tmp_path_factory.mktemp("smol-artifacts")
    loaded = load_model("smollm2-instruct", root=root, log=lambda *_: None)
    return root, loaded


@pytest.fixture(scope="module")
def hf(smol):
    from transformers import AutoModelForCausalLM

    from mechrefusal.models.smollm2 import checkpoint_dir

    return AutoModelForCausalLM.from_pretrained(checkpoint_dir(smol[0]), dtype=torch.float32).eval()


def test_real_weights_match_transformers(smol, hf):
    _, loaded = smol
    assert (loaded.model.cfg.n_layers, loaded.model.cfg.d_model) == (30, 576)
    tokens, mask = tokenize_prompts(loaded.tokenizer, PROMPTS, n_ctx=512)
    with torch.inference_mode():
        ours = loaded.model(tokens, attention_mask=mask)
        theirs = hf(
            input_ids=tokens, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0)
        ).logits
        real = mask.bool()
        torch.testing.assert_close(ours[real], theirs[real], atol=5e-4, rtol=1e-4)
        single = tokenize_prompts(loaded.tokenizer, PROMPTS[:1], n_ctx=512)[0]
        torch.testing.assert_close(
            loaded.model(single), hf(input_ids=single).logits, atol=5e-4, rtol=1e-4
        )


def test_greedy_generations_match_transformers(smol, hf):
    _, loaded = smol
    ours = generate_answers(loaded.model, PROMPTS, max_new_tokens=8, progress=False)
    for prompt, ids in zip(PROMPTS, ours.new_tokens, strict=True):
        tokens, _ = tokenize_prompts(loaded.tokenizer, [prompt], n_ctx=512)
        out = hf.generate(
            tokens, max_new_tokens=8, do_sample=False, pad_token_id=loaded.tokenizer.pad_token_id
        )
        expected = out[0, tokens.shape[1] :].tolist()
        eos = loaded.tokenizer.eos_token_id
        expected = expected[: expected.index(eos)] if eos in expected else expected
        assert ids == expected[: len(ids)] and len(ids) == len(expected)


def test_cached_checkpoint_is_reused(smol):
    from mechrefusal.models.smollm2 import ensure_smollm2_checkpoint

    messages = []
    ensure_smollm2_checkpoint(smol[0], log=messages.append)
    assert messages == []


def test_altered_gguf_is_refused_and_nothing_is_written(tmp_path, monkeypatch):
    from mechrefusal.models import smollm2

    monkeypatch.setattr(smollm2, "GGUF_SHA256", "0" * 64)
    with pytest.raises(ArtifactError, match="sha256 .* expected 0+: the file is altered"):
        smollm2.ensure_smollm2_checkpoint(tmp_path)
    assert not any(tmp_path.iterdir())


def test_unregistered_name_is_a_clear_error(tmp_path):
    from mechrefusal.models.loading import load_model

    with pytest.raises(ValueError, match="Unknown model 'smollm3': registered names are"):
        load_model("smollm3", root=tmp_path)
    assert not any(tmp_path.iterdir())
