"""Cached transposed weights: the same outputs as TransformerLens's own forward, kept fresh."""

import torch
from einops import rearrange

from mechrefusal.engine.transposed import (
    attention_weights_in_product_layout,
    reuse_transposed_weights,
)


def test_outputs_match_and_follow_weight_changes(tiny_tokenizer, make_tiny_hooked):
    reference, fast = make_tiny_hooked(tiny_tokenizer), make_tiny_hooked(tiny_tokenizer)
    reuse_transposed_weights(fast)
    tokens = torch.randint(0, len(tiny_tokenizer), (3, 7))
    with torch.inference_mode():
        assert torch.equal(fast(tokens), reference(tokens))
        assert torch.equal(fast(tokens), reference(tokens))  # served from the copies
    with torch.no_grad():
        for model in (reference, fast):
            model.blocks[0].mlp.W_in.mul_(1.5)  # in place: the version counter moves
            model.unembed.W_U.add_(0.1)
    with torch.inference_mode():
        assert torch.equal(fast(tokens), reference(tokens))
    fast.load_state_dict(make_tiny_hooked(tiny_tokenizer).state_dict())
    with torch.inference_mode():
        assert not torch.equal(fast(tokens), reference(tokens))


def test_gradients_still_reach_the_weights(tiny_tokenizer, make_tiny_hooked):
    model = reuse_transposed_weights(make_tiny_hooked(tiny_tokenizer))
    with torch.no_grad():
        model(torch.zeros(1, 3, dtype=torch.long))  # fills the copies
    model(torch.randint(0, len(tiny_tokenizer), (2, 5))).sum().backward()
    assert model.blocks[1].mlp.W_gate.grad is not None
    assert model.unembed.W_U.grad is not None and model.unembed.W_U.grad.abs().sum() > 0


def test_copies_made_in_inference_mode_serve_autograd_through_frozen_weights(
    tiny_tokenizer, make_tiny_hooked
):
    """Training a steering vector through frozen blocks (low-rank) after inference forwards."""
    model = reuse_transposed_weights(make_tiny_hooked(tiny_tokenizer))
    with torch.inference_mode():
        model(torch.zeros(1, 3, dtype=torch.long))
    model.requires_grad_(False)
    residual = torch.randn(2, 5, model.cfg.d_model, requires_grad=True)
    model(residual, start_at_layer=0).sum().backward()
    assert residual.grad is not None and residual.grad.abs().sum() > 0


def test_attention_weights_in_product_layout_are_read_as_views_with_the_same_outputs(
    tiny_tokenizer, make_tiny_hooked
):
    reference = make_tiny_hooked(tiny_tokenizer)
    fast = attention_weights_in_product_layout(make_tiny_hooked(tiny_tokenizer))
    tokens = torch.randint(0, len(tiny_tokenizer), (3, 7))
    with torch.inference_mode():
        assert torch.equal(fast(tokens), reference(tokens))
    for name, value in reference.state_dict().items():
        assert torch.equal(fast.state_dict()[name], value), name
    attn = fast.blocks[0].attn
    # What TL's forward makes of them each time: now views of the stored weights, not copies.
    q = rearrange(attn.W_Q, "head d_model d_head -> (head d_head) d_model")
    k = rearrange(attn._W_K, "head d_model d_head -> (head d_head) d_model")
    o = rearrange(attn.W_O, "head d_head d_model -> d_model (head d_head)")
    for made, stored in ((q, attn.W_Q), (k, attn._W_K), (o, attn.W_O)):
        assert made.is_contiguous() and made.data_ptr() == stored.data_ptr()
