import copy

import pytest
import torch

from mechrefusal.analysis.interventions import (
    ablated_directions,
    added_vectors,
    orthogonalized_copy,
    residual_hooks,
)
from mechrefusal.data.chat import stop_token_ids, tokenize_prompts
from mechrefusal.engine.generation import greedy_generate

PROMPTS = [
    "Summarize the text above.",
    "What is the first item in the list: apple, lamp, kite?",
    "Hi there",
]


def _batch(model, prompts=PROMPTS):
    return tokenize_prompts(model.tokenizer, prompts, n_ctx=model.cfg.n_ctx)


def _logits(model, tokens, mask):
    return model(tokens, attention_mask=mask)


def test_alpha_zero_is_bit_identical(tiny_model):
    tokens, mask = _batch(tiny_model)
    base = _logits(tiny_model, tokens, mask)
    with added_vectors(
        tiny_model, "blocks.0.hook_resid_post", 0.0 * torch.randn(tiny_model.cfg.d_model)
    ):
        steered = _logits(tiny_model, tokens, mask)
    assert torch.equal(base, steered)


def test_adding_changes_logits_and_hooks_removed_after_exception(tiny_model):
    tokens, mask = _batch(tiny_model)
    base = _logits(tiny_model, tokens, mask)
    with (
        pytest.raises(RuntimeError, match="boom"),
        added_vectors(
            tiny_model, "blocks.0.hook_resid_post", 5 * torch.randn(tiny_model.cfg.d_model)
        ),
    ):
        assert not torch.allclose(_logits(tiny_model, tokens, mask), base)
        raise RuntimeError("boom")
    assert all(not hp.fwd_hooks for hp in tiny_model.hook_dict.values())
    assert torch.equal(_logits(tiny_model, tokens, mask), base)


def test_wrong_width_vector(tiny_model):
    with (
        pytest.raises(ValueError, match="width 7 does not fit a model with d_model=32"),
        added_vectors(tiny_model, "blocks.0.hook_resid_post", torch.ones(7)),
    ):
        pass


def test_ablation_removes_projection_everywhere(tiny_model):
    direction = torch.randn(tiny_model.cfg.d_model)
    unit = direction / direction.norm()
    tokens, mask = _batch(tiny_model)
    with ablated_directions(tiny_model, direction):
        _, cache = tiny_model.run_with_cache(
            tokens, attention_mask=mask, names_filter=lambda n: n in residual_hooks(tiny_model)
        )
    for name in residual_hooks(tiny_model):
        assert (cache[name].cpu() @ unit).abs().max() < 1e-4, name


def test_orthogonalized_weights_match_hook_ablation(tiny_model):
    # float64: in a random model the BOS residual can be tiny after ablation, and RMSNorm then
    # amplifies float32 rounding differences between the two (mathematically equal) routes.
    model = copy.deepcopy(tiny_model).to(torch.float64)
    directions = torch.randn(2, model.cfg.d_model, dtype=torch.float64)
    tokens, mask = _batch(model)
    with ablated_directions(model, directions):
        hooked = _logits(model, tokens, mask)
    edited = orthogonalized_copy(model, directions)
    real = mask.bool()  # pad positions attend to nothing; their values are not defined
    torch.testing.assert_close(
        _logits(edited, tokens, mask)[real], hooked[real], atol=1e-8, rtol=1e-8
    )
    assert not torch.equal(edited.embed.W_E, model.embed.W_E)


def test_generation_with_kv_cache_matches_full_forward(tiny_model):
    """Greedy KV-cache generation equals recomputing the whole sequence each step."""
    tokens, mask = _batch(tiny_model, PROMPTS[:1])
    gen = greedy_generate(tiny_model, tokens, mask, max_new_tokens=5, stop_ids=set())
    seq = tokens
    for _ in range(5):
        nxt = tiny_model(seq)[:, -1].argmax(-1, keepdim=True).cpu()  # cuda where TL picks it
        seq = torch.cat([seq, nxt], dim=1)
    assert gen.new_tokens[0] == seq[0, tokens.shape[1] :].tolist()


def test_batched_generation_equals_one_by_one(tiny_model):
    stop = stop_token_ids(tiny_model.tokenizer)
    tokens, mask = _batch(tiny_model)
    batched = greedy_generate(tiny_model, tokens, mask, max_new_tokens=6, stop_ids=stop)
    for i, prompt in enumerate(PROMPTS):
        t, m = _batch(tiny_model, [prompt])
        assert (
            greedy_generate(tiny_model, t, m, max_new_tokens=6, stop_ids=stop).new_tokens[0]
            == batched.new_tokens[i]
        )


def test_mean_ablation_holds_the_mean_coordinate(tiny_model):
    from mechrefusal.analysis.interventions import mean_residuals

    direction = torch.randn(tiny_model.cfg.d_model)
    unit = direction / direction.norm()
    means = mean_residuals(tiny_model, PROMPTS[:2])
    tokens, mask = _batch(tiny_model)
    with ablated_directions(tiny_model, direction, means=means):
        _, cache = tiny_model.run_with_cache(
            tokens, attention_mask=mask, names_filter=lambda n: n in residual_hooks(tiny_model)
        )
    for name in residual_hooks(tiny_model):
        torch.testing.assert_close(
            cache[name].cpu() @ unit,
            (means[name] @ unit).expand(tokens.shape),
            atol=1e-4,
            rtol=1e-4,
        )
    partial_means = {"blocks.0.hook_resid_pre": unit}
    with (
        pytest.raises(ValueError, match="every residual hook"),
        ablated_directions(tiny_model, direction, means=partial_means),
    ):
        pass


def test_orthogonalization_covers_learned_positions():
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(
        n_layers=2,
        d_model=16,
        n_ctx=12,
        d_head=4,
        n_heads=4,
        d_vocab=30,
        act_fn="gelu",
        positional_embedding_type="standard",
        seed=0,
        dtype=torch.float64,
    )
    model = HookedTransformer(cfg)
    directions = torch.randn(2, 16, dtype=torch.float64)
    tokens = torch.randint(0, 30, (3, 10))
    with ablated_directions(model, directions):
        hooked = model(tokens)
    edited = orthogonalized_copy(model, directions)
    torch.testing.assert_close(edited(tokens), hooked, atol=1e-8, rtol=1e-8)
    assert not torch.equal(edited.pos_embed.W_pos, model.pos_embed.W_pos)
