import pytest
import torch

from mechrefusal.analysis.sae import (
    SAETrainConfig,
    decoder_alignment,
    load_sae,
    rebuild_direction,
    reconstruction_report,
    sae_training_texts,
    save_sae,
    shared_and_specific,
    token_activations,
    train_sae,
)
from mechrefusal.data.prompts import select


@pytest.fixture(scope="module")
def trained(micro):
    hook = "blocks.1.hook_resid_post"
    texts = sae_training_texts(select(micro.prompts, split="train"))
    sae = train_sae(
        micro.model, hook, texts, SAETrainConfig(training_tokens=100_000, expansion=2, k=8)
    )
    return sae, hook


def test_sae_trains_offline_and_reconstructs(micro, trained):
    from sae_lens import SAE

    sae, hook = trained
    acts = token_activations(
        micro.model,
        sae_training_texts(select(micro.prompts, split="eval")[:40]),
        hook,
    )
    report = reconstruction_report(sae, acts)
    # Held-out prompts, every position after the chat header (the SAE's training distribution).
    assert report.explained_variance > 0.3 and 0 < report.mean_l0 <= 8
    # The trainer's normalisation is folded into the weights: raw activations go in and out.
    assert isinstance(sae, SAE) and sae.cfg.metadata.hook_name == hook


def test_token_activations_equal_each_prompt_run_alone(micro):
    """Length-ordered batches with the chat header run once give every prompt's own
    activations (one prompt per forward, no padding), in the prompts' order."""
    from mechrefusal.analysis.sae import header_length
    from mechrefusal.data.chat import tokenize_prompts

    texts = [p.prompt for p in select(micro.prompts, split="eval")[:40:3]]
    hook = "blocks.1.hook_resid_post"
    fast = token_activations(micro.model, texts, hook, batch_size=4)
    skip = header_length(micro.tokenizer)
    alone = []
    for text in texts:
        tokens, _ = tokenize_prompts(micro.tokenizer, [text], n_ctx=micro.model.cfg.n_ctx)
        _, cache = micro.model.run_with_cache(tokens, names_filter=[hook])
        alone.append(cache[hook][0, skip:])
    torch.testing.assert_close(fast, torch.cat(alone), atol=1e-4, rtol=1e-4)


def test_decoder_row_is_its_own_top_feature(trained):
    sae, _ = trained
    row = sae.W_dec[17].detach()
    assert int(decoder_alignment(sae, row[None]).argmax()) == 17


def test_rebuild_from_one_feature_is_that_row(trained):
    sae, _ = trained
    scores = torch.zeros(sae.W_dec.shape[0])
    scores[5] = 2.0
    rebuilt = rebuild_direction(sae, scores, 1)
    row = sae.W_dec[5].detach()
    assert torch.allclose(rebuilt, row / row.norm(), atol=1e-6)


def test_random_rebuild_draws_only_live_features(trained):
    """The control draws among features that fire (nonzero score), never dead latents."""
    sae, _ = trained
    scores = torch.zeros(sae.W_dec.shape[0])
    live = [3, 9, 11]
    scores[live] = torch.tensor([1.0, -0.5, 2.0])
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        rebuilt = rebuild_direction(sae, scores, 2, generator=generator)
        rows = sae.W_dec.detach().float()[live]
        # The rebuilt vector lies in the span of the live rows.
        coef = torch.linalg.lstsq(rows.T, rebuilt[:, None]).solution
        assert torch.allclose(rows.T @ coef, rebuilt[:, None], atol=1e-5)
        assert rebuilt.norm() == pytest.approx(1.0, abs=1e-5)


def test_faithfulness_push_in_the_prefix_memo_equals_the_hooked_forward(micro):
    """Figure 05's curve points push inside `reused_prefix`; each must equal the plain forward
    with the vector added at the hook (`added_vectors`)."""
    from mechrefusal.analysis.interventions import added_vectors
    from mechrefusal.analysis.sae import _push
    from mechrefusal.engine.generation import reused_prefix
    from mechrefusal.scoring.evaluation import refusal_logit_gap

    texts = [p.prompt for p in select(micro.prompts, split="eval", kind="harmful")][:24]
    hook = "blocks.1.hook_resid_post"
    for seed in (1, 2):
        vector = torch.randn(micro.model.cfg.d_model, generator=torch.Generator().manual_seed(seed))
        with added_vectors(micro.model, hook, vector):
            plain = refusal_logit_gap(micro.model, texts)
        with reused_prefix(micro.model):
            unpushed = refusal_logit_gap(micro.model, texts)
            fast = refusal_logit_gap(micro.model, texts, plan=_push(hook, vector))
        torch.testing.assert_close(fast, plain, atol=1e-4, rtol=1e-4)
        assert not torch.allclose(unpushed, plain, atol=1e-3)


def test_shared_and_specific():
    shared, specific = shared_and_specific([[1, 2], [2, 3], [4, 5]])
    assert shared == [2] and specific == [[1], [3], [4, 5]]


def test_save_load_checks_fingerprint(micro, micro_base, trained, tmp_path):
    from dataclasses import replace

    from mechrefusal.analysis.sae import ReconstructionReport
    from mechrefusal.store.artifacts import ArtifactError

    sae, hook = trained
    save_sae(
        sae,
        tmp_path / "sae",
        fingerprint=micro.fingerprint,
        hook=hook,
        report=ReconstructionReport(explained_variance=1.0, mean_l0=1.0, dead_fraction=0.0),
    )
    back, meta = load_sae(tmp_path / "sae", fingerprint=micro.fingerprint)
    assert torch.allclose(back.W_dec, sae.W_dec) and meta["hook"] == hook
    with pytest.raises(ArtifactError, match="made for another model"):
        load_sae(tmp_path / "sae", fingerprint=replace(micro.fingerprint, d_model=128))


def test_sae_must_fit_hook_and_width(micro, trained):
    from mechrefusal.analysis.sae import check_sae_fits
    from mechrefusal.store.artifacts import ArtifactError

    sae, hook = trained
    check_sae_fits(sae, micro.model, hook)
    if getattr(getattr(sae.cfg, "metadata", None), "hook_name", None) is not None:
        with pytest.raises(ArtifactError, match="trained at"):
            check_sae_fits(sae, micro.model, "blocks.0.hook_resid_post")

    class Narrow:
        class cfg:
            d_model = micro.model.cfg.d_model + 1

    with pytest.raises(ArtifactError, match="d_in"):
        check_sae_fits(sae, Narrow, hook)


def test_token_activations_cover_every_real_token_after_the_header(micro):
    from mechrefusal.analysis.sae import header_length
    from mechrefusal.data.chat import tokenize_prompts

    texts = ["Hi", "What is the first item in the list: apple, lamp?"]
    acts = token_activations(micro.model, texts, "blocks.0.hook_resid_post")
    _, mask = tokenize_prompts(micro.tokenizer, texts, n_ctx=micro.model.cfg.n_ctx)
    header = header_length(micro.tokenizer)
    assert acts.shape == (int(mask.sum()) - len(texts) * header, micro.model.cfg.d_model)
    # the last row is the last prompt's last token, as the full run gives it
    tokens, _ = tokenize_prompts(micro.tokenizer, texts[-1:], n_ctx=micro.model.cfg.n_ctx)
    _, cache = micro.model.run_with_cache(tokens, names_filter=["blocks.0.hook_resid_post"])
    torch.testing.assert_close(
        acts[-1], cache["blocks.0.hook_resid_post"][0, -1], atol=1e-5, rtol=1e-5
    )


def test_header_length_is_what_every_chat_prompt_starts_with(micro):
    from mechrefusal.analysis.sae import header_length
    from mechrefusal.data.chat import format_prompt

    header = header_length(micro.tokenizer)
    a, b = (
        micro.tokenizer.encode(format_prompt(micro.tokenizer, t), add_special_tokens=False)
        for t in ("apple lamp", "Zebra crossing?")
    )
    assert a[:header] == b[:header] and a[header] != b[header]
