import pytest
import torch

from mechrefusal.analysis.activations import cache_activations
from mechrefusal.engine.hooks import hook_name, resolve_hook, validate_hook, validate_layer

PROMPTS = [
    "Summarize the text above.",
    "What is the first item in the list: apple, lamp, kite, drum, owl?",
    "Hi",
    "How do I kill the weeds in my garden?",
]


@pytest.mark.parametrize("batch_size", [2, 4])
@pytest.mark.parametrize("position", ["last", "prompt_end", "mean"])
def test_padding_does_not_change_activations(tiny_model, position, batch_size):
    hooks = [hook_name("resid_post", 0), hook_name("resid_pre", 1)]
    batched = cache_activations(
        tiny_model, PROMPTS, hooks, position=position, batch_size=batch_size, progress=False
    )
    for i, prompt in enumerate(PROMPTS):
        single = cache_activations(
            tiny_model, [prompt], hooks, position=position, batch_size=1, progress=False
        )
        for h in hooks:
            torch.testing.assert_close(batched[h][i], single[h][0], atol=1e-4, rtol=1e-4)


def test_batches_are_cut_from_the_length_order(tiny_model, monkeypatch):
    """Rows are batched shortest first (little padding), whatever the prompts' order (here
    "Hi", the shortest, is third, so batches in prompt order would differ)."""
    import mechrefusal.analysis.activations as activations

    batches, real = [], activations.run_with_cache

    def spy(model, tokens, mask, names, **kwargs):
        batches.append(sorted(mask.sum(1).tolist()))
        return real(model, tokens, mask, names, **kwargs)

    monkeypatch.setattr(activations, "run_with_cache", spy)
    h = hook_name("resid_post", 0)
    cache_activations(tiny_model, PROMPTS, [h], batch_size=2, progress=False, store=None)
    lengths = sorted(n for batch in batches for n in batch)
    assert batches == [lengths[:2], lengths[2:]]


def test_prompt_end_differs_from_last(tiny_model):
    h = hook_name("resid_post", 1)
    last = cache_activations(tiny_model, PROMPTS[:2], [h], position="last", progress=False)[h]
    end = cache_activations(tiny_model, PROMPTS[:2], [h], position="prompt_end", progress=False)[h]
    assert not torch.allclose(last, end)


def test_unknown_hook_names_close_matches(tiny_model):
    with pytest.raises(
        ValueError,
        match=r"Unknown hook 'blocks.0.hook_resid_psot'.*Closest valid names: blocks.0.hook_resid_post",
    ):
        validate_hook(tiny_model, "blocks.0.hook_resid_psot")


def test_layer_out_of_range(tiny_model):
    with pytest.raises(ValueError, match="Layer 5 is out of range: the model has 2 layers"):
        validate_layer(tiny_model, 5)
    assert resolve_hook(tiny_model, layer=-1) == ("blocks.1.hook_resid_post", 1)


def test_empty_and_too_long_prompts(tiny_model):
    with pytest.raises(ValueError, match="Empty prompt set"):
        cache_activations(tiny_model, [], ["blocks.0.hook_resid_post"])
    with pytest.raises(ValueError, match="longer than the model's context"):
        cache_activations(tiny_model, ["word " * 200], ["blocks.0.hook_resid_post"], progress=False)


def test_prompt_end_is_the_user_text_end_when_pad_is_end_of_turn(tiny_model):
    # Llama-3 tokenizers pad with an end-of-turn id: a search for the last end-of-turn marker
    # landed on left padding for raw prompts; the template's own suffix length does not.
    import copy

    model = copy.copy(tiny_model)
    tokenizer = copy.deepcopy(tiny_model.tokenizer)
    tokenizer.pad_token = "<|eot_id|>"
    model.tokenizer = tokenizer
    h = hook_name("resid_post", 1)
    for fmt in ("raw", "chat"):
        end = cache_activations(
            model, PROMPTS, [h], position="prompt_end", fmt=fmt, batch_size=4, progress=False
        )[h]
        for i, prompt in enumerate(PROMPTS):
            single = cache_activations(
                model, [prompt], [h], position="prompt_end", fmt=fmt, progress=False
            )[h]
            torch.testing.assert_close(end[i], single[0], atol=1e-4, rtol=1e-4)
    # A raw prompt has no template suffix: its user text ends at the last token.
    raw = {
        pos: cache_activations(model, PROMPTS, [h], position=pos, fmt="raw", progress=False)[h]
        for pos in ("last", "prompt_end")
    }
    torch.testing.assert_close(raw["prompt_end"], raw["last"])
