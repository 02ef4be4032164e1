from functools import partial

import pytest
import torch

from mechrefusal.analysis.patching import (
    PATCH_SITES,
    attribution_grid,
    first_difference,
    logit_diff_metric,
    matched_pairs,
    patch_grid,
    patch_resid_pre,
    run_patching,
    written_pairs,
)
from mechrefusal.categories import token_ids
from mechrefusal.data.minimal_pairs import PairFrame
from mechrefusal.data.prompts import select


@pytest.fixture(scope="module")
def pair_and_metric(micro):
    pairs = matched_pairs(select(micro.prompts, split="eval"), micro.tokenizer, per_category=1)
    pair = pairs[0]
    ids = token_ids(micro.tokenizer)
    return pair, partial(
        logit_diff_metric, category_id=ids[pair.category], respond_id=ids["respond"]
    )


def test_pairs_are_aligned(micro):
    for pair in matched_pairs(select(micro.prompts, split="eval"), micro.tokenizer, per_category=2):
        assert pair.clean_tokens.shape == pair.corrupt_tokens.shape and pair.clean != pair.corrupt


def test_patching_into_itself_gives_clean_everywhere(micro, pair_and_metric):
    pair, metric = pair_and_metric
    grid = patch_grid(
        micro.model, pair.clean_tokens, pair.clean_tokens, site="mlp_out", metric=metric
    )
    clean = float(metric(micro.model(pair.clean_tokens[None]))[0])
    assert torch.allclose(grid, torch.full_like(grid, clean), atol=1e-4)


def test_matches_transformer_lens_patching(micro, pair_and_metric):
    from transformer_lens import patching as tl_patching

    pair, metric = pair_and_metric
    ours = patch_resid_pre(micro.model, pair.clean_tokens, pair.corrupt_tokens, metric=metric)
    _, clean_cache = micro.model.run_with_cache(pair.clean_tokens[None])
    theirs = tl_patching.get_act_patch_resid_pre(
        micro.model, pair.corrupt_tokens[None], clean_cache, lambda logits: metric(logits)[0]
    )
    torch.testing.assert_close(ours, theirs.float().cpu(), atol=1e-4, rtol=1e-4)


def test_attribution_correlates_with_exact(micro, pair_and_metric):
    pair, metric = pair_and_metric
    exact = patch_grid(
        micro.model, pair.clean_tokens, pair.corrupt_tokens, site="resid_pre", metric=metric
    )
    approx = attribution_grid(
        micro.model, pair.clean_tokens, pair.corrupt_tokens, site="resid_pre", metric=metric
    )
    # Linear approximation of a 2-layer model on the residual stream: strongly, not perfectly, correlated.
    # 0.5 is far above what unrelated grids give (|r| ~ 0.1 for shuffled cells) and below the ~0.9 seen.
    r = torch.corrcoef(torch.stack([exact.flatten(), approx.flatten()]))[0, 1]
    assert r > 0.5


def test_length_mismatch_is_an_error(micro, pair_and_metric):
    pair, metric = pair_and_metric
    with pytest.raises(ValueError, match="same length"):
        patch_grid(
            micro.model,
            pair.clean_tokens,
            pair.corrupt_tokens[:-1],
            site="resid_pre",
            metric=metric,
        )


def test_run_patching_summary(micro):
    pairs = matched_pairs(select(micro.prompts, split="eval"), micro.tokenizer, per_category=1)
    result = run_patching(micro.model, pairs, sites=("resid_pre",), min_gap=0.0, progress=False)
    grid = torch.tensor(result.exact["resid_pre"])
    assert grid.shape[0] == micro.model.cfg.n_layers
    # The chat template's closing tokens are identical in clean and corrupted prompts, so patching
    # the embedding-level residual (layer 0 resid_pre) there changes nothing: exactly 0.
    assert torch.allclose(grid[0, -3:], torch.zeros(3), atol=1e-5)
    # Somewhere the clean residual restores a large part of the clean behaviour.
    assert float(grid.max()) > 0.5


@pytest.mark.parametrize("site", PATCH_SITES)
def test_skipping_the_shared_prefix_gives_the_full_grid(micro, pair_and_metric, site):
    """The fast path (positions before the first difference not run) equals the plain one."""
    pair, metric = pair_and_metric
    assert first_difference(pair.clean_tokens, pair.corrupt_tokens) > 0  # something is skipped
    fast = patch_grid(micro.model, pair.clean_tokens, pair.corrupt_tokens, site=site, metric=metric)
    plain = patch_grid(
        micro.model,
        pair.clean_tokens,
        pair.corrupt_tokens,
        site=site,
        metric=metric,
        skip_shared_prefix=False,
    )
    torch.testing.assert_close(fast, plain, atol=1e-4, rtol=1e-4)


def test_written_pairs_swap_one_fill_in_at_equal_length(micro):
    frame = PairFrame(
        "Could you {x} for me this evening?",
        "unsupported",
        ("water my plants", "feed my dog"),
        ("name my plants", "describe my dog", "water my plants", "feed my cat", "list my plants"),
        other="incomplete",
    )
    pairs = written_pairs(micro.tokenizer, per_frame=2, frames=[frame])
    assert pairs
    for pair in pairs:
        assert pair.clean_tokens.shape == pair.corrupt_tokens.shape
        assert pair.clean != pair.corrupt and pair.corrupt_category == "incomplete"
        assert pair.clean.startswith("Could you ") and pair.corrupt.endswith(
            " for me this evening?"
        )
    with pytest.raises(ValueError, match="minimal_pairs.py"):
        written_pairs(
            micro.tokenizer,
            per_frame=1,
            frames=[PairFrame("{x}?", "safety", ("a",), ("a b c d e f g h",))],
        )


def test_cross_category_pairs_read_the_other_category_token(micro, pair_and_metric):
    """A pair of two refusal categories is scored clean token minus the other category's
    token, not minus `[respond]`: the grid's 0 and 1 are the two runs."""
    from dataclasses import replace

    pair, _ = pair_and_metric
    other = next(c for c in ("incomplete", "safety") if c != pair.category)
    cross = replace(pair, corrupt_category=other)
    result = run_patching(micro.model, [cross], sites=("resid_pre",), min_gap=0.0, progress=False)
    ids = token_ids(micro.tokenizer)
    logits = micro.model(pair.clean_tokens[None])[0, -1]
    expected = float(logits[ids[pair.category]] - logits[ids[other]])
    assert result.pairs[0]["clean_metric"] == pytest.approx(expected, abs=1e-4)
    assert list(result.per_category) == [f"{pair.category} vs {other}"]
