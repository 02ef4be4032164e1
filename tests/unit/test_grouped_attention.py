"""Grouped-query attention on the key-value heads: TransformerLens's outputs and hooks, no copies."""

import torch

from mechrefusal.data.chat import left_pad
from mechrefusal.engine.generation import greedy_generate
from mechrefusal.engine.grouped_attention import group_query_heads

HOOKS = ["blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z", "blocks.1.hook_resid_post"]


def test_outputs_and_hooks_match_the_repeating_forward(tiny_tokenizer, make_tiny_hooked):
    reference = make_tiny_hooked(tiny_tokenizer)
    grouped = group_query_heads(make_tiny_hooked(tiny_tokenizer))
    assert grouped.cfg.n_key_value_heads < grouped.cfg.n_heads  # the fixture is a GQA model
    tokens, mask = left_pad([[5, 6, 7, 8, 9], [10, 11], [12, 13, 14]], pad_id=0)
    with torch.inference_mode():
        _, expected = reference.run_with_cache(tokens, attention_mask=mask, names_filter=HOOKS)
        _, got = grouped.run_with_cache(tokens, attention_mask=mask, names_filter=HOOKS)
        for name in HOOKS:
            torch.testing.assert_close(got[name], expected[name], atol=1e-6, rtol=1e-6)
        kwargs = dict(max_new_tokens=6, stop_ids=set())
        ref_gen = greedy_generate(reference, tokens, mask, **kwargs)
        gen = greedy_generate(grouped, tokens, mask, **kwargs)
    assert gen.new_tokens == ref_gen.new_tokens  # cached decoding: one query, many keys
    torch.testing.assert_close(gen.first_logits, ref_gen.first_logits, atol=1e-5, rtol=1e-5)


def test_gradients_flow_through_grouped_attention(tiny_tokenizer, make_tiny_hooked):
    model = group_query_heads(make_tiny_hooked(tiny_tokenizer))
    model(torch.randint(0, len(tiny_tokenizer), (2, 5))).sum().backward()
    assert model.blocks[0].attn._W_K.grad.abs().sum() > 0
