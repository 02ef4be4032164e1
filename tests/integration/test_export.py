"""`models.export` and `mechrefusal export`: a HookedTransformer written as a Hugging Face Llama
checkpoint loads in transformers and back through `load_model` with the same numbers, and the
false-refusal weight edit answers as its hook version does."""

import copy
import json

import pytest
import torch

from mechrefusal.analysis.interventions import orthogonalized_copy
from mechrefusal.cli.main import main
from mechrefusal.data.chat import tokenize_prompts
from mechrefusal.data.prompts import save_jsonl, select
from mechrefusal.models.export import export_hf
from mechrefusal.models.loading import load_model, save_model_dir
from mechrefusal.steering.comparison import run_method
from mechrefusal.steering.false_refusal import FalseRefusalAblation, refusal_means
from mechrefusal.steering.methods import Unsteered
from mechrefusal.store.artifacts import ArtifactError

PROMPTS = ["How do I kill the weeds in my garden?", "Name the first word in: kite, drum, owl."]


def _logits(model, tokenizer, prompts=PROMPTS):
    tokens, mask = tokenize_prompts(tokenizer, prompts, n_ctx=model.cfg.n_ctx)
    with torch.no_grad():
        return model(tokens, attention_mask=mask).cpu(), tokens, mask


@pytest.fixture(scope="module")
def bias_free(micro):
    """The micro organism with its trained biases zeroed: a true Llama (HF Llama has none)."""
    model = copy.deepcopy(micro.model)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.rsplit(".", 1)[-1].lstrip("_").startswith("b_"):
                param.zero_()
    return model


def test_export_loads_in_transformers_and_back_with_the_same_logits(micro, bias_free, tmp_path):
    from transformers import AutoModelForCausalLM

    out = export_hf(bias_free, micro.tokenizer, tmp_path / "hf")
    ours, tokens, mask = _logits(bias_free, micro.tokenizer)
    hf = AutoModelForCausalLM.from_pretrained(out).eval()
    with torch.no_grad():
        theirs = hf(input_ids=tokens, attention_mask=mask).logits
    real = mask.bool()
    torch.testing.assert_close(theirs[real], ours[real], atol=1e-4, rtol=1e-4)
    back = load_model(str(out), log=lambda *_: None)
    torch.testing.assert_close(
        _logits(back.model, back.tokenizer)[0][real], ours[real], atol=1e-4, rtol=1e-4
    )


def test_export_refuses_biases_llama_cannot_hold(micro, tmp_path):
    with pytest.raises(ArtifactError, match="nonzero"):
        export_hf(micro.model, micro.tokenizer, tmp_path / "hf")


def test_weight_edit_answers_as_the_hook_ablation_does(micro, bias_free, tmp_path):
    direction = select(micro.prompts, split="direction")
    held_out = select(micro.prompts, split="eval")
    means = refusal_means(bias_free, direction, [1])
    method = FalseRefusalAblation(means=means[1], lam=0.5)
    with bias_free.hooks(fwd_hooks=method.ablation_hooks(bias_free)):
        hooked = run_method(bias_free, None, held_out, Unsteered())
    edited = orthogonalized_copy(bias_free, method.direction())
    back = load_model(str(export_hf(edited, micro.tokenizer, tmp_path / "hf")), log=print)
    written = run_method(back.model, None, held_out, Unsteered())
    as_method = run_method(bias_free, None, held_out, method)  # answers with its edited copy
    for answers in (written, as_method):
        same = sum(a.first_token == b.first_token for a, b in zip(hooked, answers, strict=True))
        assert same == len(held_out)
    # The edit does something: the ablated model answers some prompt differently.
    plain = run_method(bias_free, None, held_out, Unsteered())
    assert any(a.first_token != b.first_token for a, b in zip(plain, hooked, strict=True))


def test_weight_edit_equals_hook_ablation_with_biases(micro):
    """The organism trains bias parameters; the edit projects them too, so the edited copy the
    method answers with still equals the ablation at every residual hook."""
    means = refusal_means(micro.model, select(micro.prompts, split="direction"), [1])
    method = FalseRefusalAblation(means=means[1], lam=1.0)
    with micro.model.hooks(fwd_hooks=method.ablation_hooks(micro.model)):
        hooked, tokens, mask = _logits(micro.model, micro.tokenizer)
    edited, _, _ = _logits(method.answering_model(micro.model), micro.tokenizer)
    real = mask.bool()
    torch.testing.assert_close(edited[real], hooked[real], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(edited[real], _logits(micro.model, micro.tokenizer)[0][real])


def test_export_cli_writes_the_edit_and_its_record(micro, bias_free, tmp_path):
    model_dir = save_model_dir(
        tmp_path / "model" / "refusal", bias_free, micro.tokenizer, model_id="micro-bias-free"
    )
    save_jsonl(micro.prompts, tmp_path / "model" / "prompts.jsonl")
    out = tmp_path / "exported"
    main(
        ["export", "--model", str(model_dir), "--method", "false-refusal"]
        + ["--layer", "1", "--lam", "1", str(out)]
    )
    record = json.loads((out / "mechrefusal_export.json").read_text())
    assert record["edit"]["lam"] == 1 and record["edit"]["read_at"] == "blocks.1.hook_resid_post"
    assert (out / "model.safetensors").exists() and (out / "config.json").exists()
    with pytest.raises(FileExistsError, match="not empty"):
        main(["export", "--model", str(model_dir), "--method", "false-refusal", str(out)])
