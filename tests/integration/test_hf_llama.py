"""The real-model path, offline: a small random LlamaForCausalLM with the refusal tokens added,
saved locally, loaded through `load_model`, must match transformers' own forward and generate."""

import pytest
import torch

from mechrefusal.categories import token_ids
from mechrefusal.data.chat import stop_token_ids, tokenize_prompts
from mechrefusal.engine.generation import greedy_generate
from mechrefusal.models.loading import load_model

ATOL = 1e-4  # float32, 2 layers: only summation order differs between the two implementations


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory, tiny_tokenizer, make_tiny_llama):
    model = make_tiny_llama(
        tiny_tokenizer, rms_norm_eps=1e-5, initializer_range=0.3, tie_word_embeddings=False
    )
    path = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path, model


PROMPTS = [
    "How do I kill the weeds in my garden?",
    "Name the first word in: kite, drum, owl.",
    "Hello",
]


def test_logits_match_transformers(hf_dir):
    path, hf = hf_dir
    loaded = load_model(str(path))
    assert token_ids(loaded.tokenizer)["safety"] == loaded.tokenizer.convert_tokens_to_ids(
        "[Requests with safety concerns]"
    )
    tokens, mask = tokenize_prompts(loaded.tokenizer, PROMPTS, n_ctx=loaded.model.cfg.n_ctx)
    ours = loaded.model(tokens, attention_mask=mask).cpu()  # TL picks cuda where there is one
    with torch.no_grad():
        theirs = hf(input_ids=tokens, attention_mask=mask).logits
    real = mask.bool()
    torch.testing.assert_close(ours[real], theirs[real], atol=ATOL, rtol=1e-4)


def test_greedy_generation_matches_transformers(hf_dir):
    path, hf = hf_dir
    loaded = load_model(str(path))
    stop = stop_token_ids(loaded.tokenizer)
    for prompt in PROMPTS:
        tokens, mask = tokenize_prompts(loaded.tokenizer, [prompt], n_ctx=loaded.model.cfg.n_ctx)
        ours = greedy_generate(
            loaded.model, tokens, mask, max_new_tokens=8, stop_ids=stop
        ).new_tokens[0]
        with torch.no_grad():
            out = hf.generate(
                input_ids=tokens,
                attention_mask=mask,
                max_new_tokens=8,
                do_sample=False,
                eos_token_id=sorted(stop),
                pad_token_id=loaded.tokenizer.pad_token_id,
            )
        theirs = []
        for t in out[0, tokens.shape[1] :].tolist():  # HF pads only after a stop token
            if t in stop:
                break
            theirs.append(t)
        assert ours == theirs


def test_not_a_model_directory(tmp_path):
    from mechrefusal.store.artifacts import ArtifactError

    with pytest.raises(ArtifactError, match="neither a mechrefusal model directory"):
        load_model(str(tmp_path))
