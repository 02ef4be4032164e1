"""The refusal-token fine-tune recipe on a tiny random HF Llama (the SmolLM2 run is `make figures`)."""

import pytest
import torch

from mechrefusal.categories import RESPOND_TOKEN, all_special_token_strings
from mechrefusal.prompts import select
from mechrefusal.realtune import (
    TuneConfig,
    _chat,
    add_refusal_tokens,
    label_of,
    refusal_token_finetune,
)


def test_new_tokens_get_mean_rows_and_an_untied_head(make_tiny_llama):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(
        models.WordLevel(
            {w: i for i, w in enumerate(["<pad>", "<s>", "</s>", "a", "b"])}, unk_token="<pad>"
        )
    )
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    model = make_tiny_llama(tok, tie_word_embeddings=True)
    old = model.get_input_embeddings().weight.detach().clone()
    add_refusal_tokens(model, tok)
    assert len(tok) == len(old) + 6
    assert all(
        len(tok.encode(t, add_special_tokens=False)) == 1 for t in all_special_token_strings()
    )
    new = model.get_input_embeddings().weight[len(old) :]
    torch.testing.assert_close(new, old.mean(0).expand_as(new))
    assert (
        model.get_output_embeddings().weight.data_ptr()
        != model.get_input_embeddings().weight.data_ptr()
    )
    assert model.get_output_embeddings().weight.shape[0] == len(tok)


def test_finetune_learns_the_first_answer_token(micro, tiny_tokenizer, make_tiny_llama):
    train = select(micro.prompts, split="train")
    prompts = [p for p in train if p.kind == "harmful"][:12] + [
        p for p in train if p.kind == "benign"
    ][:12]
    model = make_tiny_llama(tiny_tokenizer, tie_word_embeddings=True)
    cfg = TuneConfig(
        trainable_blocks=2, steps=80, batch_size=12, lr=1e-2, probe_tokens=2, answer_tokens=3
    )
    record = refusal_token_finetune(model, tiny_tokenizer, prompts, cfg, progress=False)
    assert record["n_examples"] == len(prompts) and record["final_loss"] < 1.0
    hits = 0
    with torch.inference_mode():
        for p in prompts:
            ids = torch.tensor([_chat(tiny_tokenizer, p.prompt)])
            first = model(input_ids=ids).logits[0, -1].argmax().item()
            hits += tiny_tokenizer.convert_ids_to_tokens(first) == label_of(p, set())
    assert hits >= 0.9 * len(prompts)
    assert label_of(prompts[-1], set()) == RESPOND_TOKEN


@pytest.mark.parametrize("fraction", [0.0, 0.5])
def test_hot_phrases_follow_the_fraction(fraction):
    from mechrefusal.prompts import Prompt
    from mechrefusal.realtune import hot_phrases

    prompts = [
        Prompt(prompt=f"How do I {w}?", kind="contrast", category="safety", keyword=w)
        for w in ["kill a process", "shoot a photo", "crush garlic", "burn a CD"]
    ]
    hot = hot_phrases(prompts, fraction)
    assert len(hot) == round(fraction * 4)
    assert sum(label_of(p, hot) != RESPOND_TOKEN for p in prompts) == len(hot)
