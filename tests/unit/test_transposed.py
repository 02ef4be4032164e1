"""Cached transposed weights: the same outputs as TransformerLens's own forward, kept fresh."""

import torch

from mechrefusal.engine.transposed import reuse_transposed_weights


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
