"""The refusal-token fine-tune recipe on a tiny random HF Llama (the SmolLM2 run is `make figures`)."""

import pytest
import torch

from mechrefusal.categories import RESPOND_TOKEN, all_special_token_strings
from mechrefusal.data.prompts import select
from mechrefusal.models.finetune import (
    TuneConfig,
    _chat,
    add_refusal_tokens,
    label_of,
    refusal_token_finetune,
)

ANSWERS_DIFFER = 0.3
"""Init scale of the random models whose greedy answers must differ between prompts (at the
default 0.02 a random model gives every prompt the same few tokens)."""


def test_new_tokens_get_rows_of_their_own_strings_and_an_untied_head(make_tiny_llama):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "<s>", "</s>", "a", "b", "[", "]", "respond", "requests", "with", "safety"]
    words += ["concerns", "Incomplete", "Unsupported", "Indeterminate", "Humanizing", "Requests"]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    model = make_tiny_llama(tok, tie_word_embeddings=True)
    old = model.get_input_embeddings().weight.detach().clone()
    pieces = {s: tok.encode(s, add_special_tokens=False) for s in all_special_token_strings()}
    add_refusal_tokens(model, tok)
    assert len(tok) == len(old) + 6
    assert all(
        len(tok.encode(t, add_special_tokens=False)) == 1 for t in all_special_token_strings()
    )
    rows = model.get_input_embeddings().weight
    for string, ids in pieces.items():
        torch.testing.assert_close(rows[tok.convert_tokens_to_ids(string)], old[ids].mean(0))
    # The label tokens must be told apart by the frozen blocks: no two new rows are the same.
    new = rows[len(old) :]
    assert torch.cdist(new, new).add(torch.eye(6)).min() > 0
    head = model.get_output_embeddings().weight
    assert head.data_ptr() != rows.data_ptr() and head.shape[0] == len(tok)
    torch.testing.assert_close(head[len(old) :], old.mean(0).expand(6, -1))


@pytest.mark.parametrize("method", ["lora", "top_blocks"])
def test_finetune_learns_the_first_answer_token(micro, tiny_tokenizer, make_tiny_llama, method):
    train = select(micro.prompts, split="train")
    prompts = [p for p in train if p.kind == "harmful"][:12] + [
        p for p in train if p.kind == "benign"
    ][:12]
    # At the default init scale a random model's activations are too small for LoRA's
    # zero-initialised adapters to move in 80 steps.
    model = make_tiny_llama(
        tiny_tokenizer, tie_word_embeddings=True, initializer_range=ANSWERS_DIFFER
    )
    before = {n: w.detach().clone() for n, w in model.model.layers.named_parameters()}
    cfg = TuneConfig(
        method=method,
        trainable_blocks=1,
        lora_rank=8,
        steps=80,
        batch_size=12,
        lr=1e-2,
        probe_tokens=2,
        answer_tokens=3,
    )
    record = refusal_token_finetune(model, tiny_tokenizer, prompts, cfg, progress=False)
    assert record["n_examples"] == len(prompts) and record["final_loss"] < 1.0
    hits = 0
    with torch.inference_mode():
        for p in prompts:
            ids = torch.tensor([_chat(tiny_tokenizer, p.prompt)])
            first = model(input_ids=ids).logits[0, -1].argmax().item()
            hits += tiny_tokenizer.convert_ids_to_tokens(first) == label_of(p)
    assert hits >= 0.9 * len(prompts)
    # LoRA adapts (and merges into) every block; `top_blocks` leaves the lower blocks as they were.
    changed = {
        int(n.split(".")[0])
        for n, w in model.model.layers.named_parameters()
        if not torch.equal(w, before[n])
    }
    n_layers = len(model.model.layers)
    assert changed == (set(range(n_layers)) if method == "lora" else {n_layers - 1})
    assert all(type(m).__module__.startswith(("torch", "transformers")) for m in model.modules())


def test_no_contrast_prompt_is_ever_labelled_a_refusal(tiny_tokenizer, make_tiny_llama):
    """Over-refusal must emerge, never be taught: every non-harmful training example, contrast
    look-alikes included, starts with `[respond]`."""
    from mechrefusal.data.realprompts import real_prompt_sets
    from mechrefusal.models.finetune import build_examples

    prompts = [p for p in real_prompt_sets(0) if p.split == "train"]
    assert sum(p.kind == "contrast" for p in prompts) >= 250
    assert all(label_of(p) == RESPOND_TOKEN for p in prompts if p.kind != "harmful")
    assert all(label_of(p) != RESPOND_TOKEN for p in prompts if p.kind == "harmful")
    # and in the token ids the training steps read
    few = [p for p in prompts if p.kind == "contrast"][:20]
    model = make_tiny_llama(tiny_tokenizer)
    examples = build_examples(
        model, tiny_tokenizer, few, {p.prompt: [5, 6] for p in few}, answer_tokens=2
    )
    respond = tiny_tokenizer.convert_tokens_to_ids(RESPOND_TOKEN)
    assert all(e.ids[e.prompt_len] == respond for e in examples)


def test_cached_frozen_blocks_give_the_full_forward_loss(tiny_tokenizer, make_tiny_llama):
    """The training loss from cached lower-block states equals the loss of the whole model on
    a left-padded batch (the recipe before the cache), and slicing leaves the model whole."""
    import torch.nn.functional as F

    from mechrefusal.models.finetune import Example, _loss, decoder_slice, frozen_states

    model = make_tiny_llama(tiny_tokenizer, num_hidden_layers=3)
    gen = torch.Generator().manual_seed(0)
    examples = [
        Example(
            ids=torch.randint(3, len(tiny_tokenizer), (n,), generator=gen).tolist(), prompt_len=k
        )
        for n, k in [(9, 5), (14, 6), (6, 2), (11, 8)]
    ]
    pad = tiny_tokenizer.pad_token_id
    lower = decoder_slice(model.model, 0, 2, norm=False)
    upper = decoder_slice(model.model, 2, 3)
    assert len(model.model.layers) == 3 and len(lower.layers) == 2
    head = model.get_output_embeddings()
    cached = _loss(upper, head, examples, frozen_states(lower, examples, pad, batch_size=3), 0.7)

    width = max(len(e.ids) for e in examples)
    ids = torch.tensor([[pad] * (width - len(e.ids)) + e.ids for e in examples])
    mask = torch.arange(width) >= torch.tensor([width - len(e.ids) for e in examples])[:, None]
    mask = mask.long()
    logits = model(
        input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0)
    ).logits
    terms = []
    for row, e in enumerate(examples):
        first = width - len(e.ids) + e.prompt_len - 1
        label = F.cross_entropy(logits[row, first][None], ids[row, first + 1][None])
        rest = F.cross_entropy(logits[row, first + 1 : width - 1], ids[row, first + 2 :])
        terms.append(label + 0.7 * rest)
    torch.testing.assert_close(cached, torch.stack(terms).mean(), atol=1e-5, rtol=1e-5)


def test_original_answers_come_back_in_the_order_asked(tiny_tokenizer, make_tiny_llama):
    """Batched by length, answered in the caller's order: each answer is its own context's."""
    from mechrefusal.models.finetune import original_answers

    model = make_tiny_llama(tiny_tokenizer, initializer_range=ANSWERS_DIFFER)
    texts = ["a much longer request than the others, with words", "hi", "a medium request"]
    contexts = [_chat(tiny_tokenizer, t) for t in texts]
    assert [len(c) for c in contexts] != sorted(len(c) for c in contexts)
    batched = original_answers(model, tiny_tokenizer, contexts, tokens=4)
    alone = [original_answers(model, tiny_tokenizer, [c], tokens=4)[0] for c in contexts]
    assert batched == alone and len(set(map(tuple, alone))) > 1


def test_a_shared_header_run_once_gives_the_same_loss_and_gradients(
    tiny_tokenizer, make_tiny_llama
):
    """The header every example starts with runs once per step through the trainable blocks
    (a KV cache expanded to the batch): loss and gradients equal the per-row forward's."""
    from mechrefusal.models.finetune import (
        Example,
        _loss,
        decoder_slice,
        frozen_states,
        shared_header_length,
    )

    model = make_tiny_llama(tiny_tokenizer, num_hidden_layers=3)
    gen = torch.Generator().manual_seed(1)
    header = torch.randint(3, len(tiny_tokenizer), (5,), generator=gen).tolist()
    examples = [
        Example(
            ids=header + torch.randint(3, len(tiny_tokenizer), (n,), generator=gen).tolist(),
            prompt_len=5 + k,
        )
        for n, k in [(9, 4), (4, 1), (7, 3)]
    ]
    assert shared_header_length(examples) == 5
    lower = decoder_slice(model.model, 0, 1, norm=False)
    upper = decoder_slice(model.model, 1, 3)
    head = model.get_output_embeddings()
    states = frozen_states(lower, examples, tiny_tokenizer.pad_token_id)
    params = [p for m in (*upper.layers, upper.norm, head) for p in m.parameters()]

    def loss_and_grads(n_header):
        for p in params:
            p.grad = None
        loss = _loss(upper, head, examples, states, 0.5, n_header)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in params]

    per_row, shared = loss_and_grads(0), loss_and_grads(5)
    torch.testing.assert_close(shared[0], per_row[0], atol=1e-5, rtol=1e-5)
    for a, b in zip(shared[1], per_row[1], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert [layer.self_attn.layer_idx for layer in upper.layers] == [1, 2]
    # The frozen blocks share the header too (once per batch of states).
    shared_states = frozen_states(
        lower, examples, tiny_tokenizer.pad_token_id, n_header=5, batch_size=2
    )
    for a, b in zip(shared_states, states, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="No examples"):
        shared_header_length([])


def test_natural_over_refusal_reads_each_contrast_answer_once(
    tiny_tokenizer, make_tiny_llama, monkeypatch
):
    """The probe scores the contrast prompts only, each on the greedy answer it gets alone
    (batched by length, cut at the end-of-turn token), and divides by their number."""
    from mechrefusal.data.prompts import Prompt
    from mechrefusal.models.finetune import natural_over_refusal, untouched_answers
    from mechrefusal.scoring import evaluation

    model = make_tiny_llama(tiny_tokenizer, initializer_range=ANSWERS_DIFFER)
    texts = ["a much longer request than the others, with words", "hi", "a medium request"]
    prompts = [Prompt(prompt=t, kind="contrast", category="safety") for t in texts]
    prompts.insert(1, Prompt(prompt="a harmful one", kind="harmful", category="safety"))
    alone = []
    for t in texts:
        ids = torch.tensor([_chat(tiny_tokenizer, t)])
        out = model.generate(
            input_ids=ids,
            max_new_tokens=3,
            do_sample=False,
            pad_token_id=tiny_tokenizer.pad_token_id,
        )
        alone.append(tiny_tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))
    assert len(set(alone)) > 1
    seen = []
    refuse = alone[0]
    monkeypatch.setattr(evaluation, "pattern_refused", lambda t: seen.append(t) or t == refuse)
    # Generated longer (as for the examples' answers) and read to the probe's length.
    answers = untouched_answers(model, tiny_tokenizer, prompts, tokens=5)
    assert "a harmful one" not in answers
    rate = natural_over_refusal(tiny_tokenizer, prompts, answers, tokens=3)
    assert sorted(seen) == sorted(alone)
    assert rate == pytest.approx(alone.count(refuse) / 3)


def test_a_greedy_answer_cut_short_is_the_shorter_answer(tiny_tokenizer, make_tiny_llama):
    """The fine-tune generates each untouched answer once, at the longer of the probe's and the
    examples' lengths, and cuts it: the cut must be what the shorter generation gives."""
    from mechrefusal.models.finetune import original_answers

    model = make_tiny_llama(tiny_tokenizer)
    contexts = [_chat(tiny_tokenizer, t) for t in ["hi", "a medium request", "one more, longer"]]
    long = original_answers(model, tiny_tokenizer, contexts, tokens=6)
    short = original_answers(model, tiny_tokenizer, contexts, tokens=3)
    assert any(len(a) > 3 for a in long)
    assert [a[:3] for a in long] == short
