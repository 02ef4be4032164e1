"""Write a Llama-style HookedTransformer as a Hugging Face checkpoint (`LlamaForCausalLM`,
safetensors), so an edited model leaves the toolkit: `transformers` loads it, and so does
`load_model(OUT)`.

The inverse of TransformerLens's `convert_llama_weights` for models loaded without weight
processing (as `load_hf_model` and the organism are): RMSNorm scales, rotary with
non-adjacent pairs (HF Llama's `rotate_half`), gated SiLU MLP, grouped-query attention. Llama
has no biases where TransformerLens has them, so a model whose biases are not all zero is
refused rather than written wrong; the unembedding is written untied (an edit to the
embeddings need not reach it).
"""

from pathlib import Path

import torch
from einops import rearrange
from transformer_lens import HookedTransformer

from mechrefusal.store.artifacts import ArtifactError

_BIASES = (
    "attn.b_Q",
    "attn.b_K",
    "attn.b_V",
    "attn._b_K",
    "attn._b_V",
    "attn.b_O",
    "mlp.b_in",
    "mlp.b_out",
)


def _check_exportable(model: HookedTransformer) -> None:
    cfg = model.cfg
    wrong = [
        f"{field}={value!r}"
        for field, value, want in (
            ("normalization_type", cfg.normalization_type, "RMS"),
            ("positional_embedding_type", cfg.positional_embedding_type, "rotary"),
            ("gated_mlp", cfg.gated_mlp, True),
            ("rotary_adjacent_pairs", cfg.rotary_adjacent_pairs, False),
            ("act_fn", cfg.act_fn, "silu"),
        )
        if value != want
    ]
    if cfg.rotary_dim is not None and cfg.rotary_dim != cfg.d_head:
        wrong.append(f"rotary_dim={cfg.rotary_dim} (not d_head)")
    if wrong:
        raise ArtifactError(
            f"Only Llama-style models can be exported to HF Llama: {', '.join(wrong)}."
        )
    params = dict(model.named_parameters())
    biased = sorted(
        name
        for name, p in params.items()
        if (name.endswith(_BIASES) or name == "unembed.b_U") and bool(p.detach().abs().max() > 0)
    )
    if biased:
        raise ArtifactError(
            f"HF Llama has no biases where this model has nonzero ones ({', '.join(biased[:4])}): "
            "it cannot be exported as LlamaForCausalLM without changing its outputs."
        )


def hf_llama_config(model: HookedTransformer):
    """The `LlamaConfig` of a Llama-style HookedTransformer."""
    from transformers import LlamaConfig

    cfg = model.cfg
    return LlamaConfig(
        vocab_size=cfg.d_vocab,
        hidden_size=cfg.d_model,
        intermediate_size=cfg.d_mlp,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.n_key_value_heads or cfg.n_heads,
        head_dim=cfg.d_head,
        max_position_embeddings=cfg.n_ctx,
        rms_norm_eps=cfg.eps,
        rope_theta=cfg.rotary_base,
        hidden_act="silu",
        tie_word_embeddings=False,
        attention_bias=False,
        mlp_bias=False,
        torch_dtype=str(cfg.dtype).removeprefix("torch."),
    )


@torch.no_grad()
def hf_llama_state_dict(model: HookedTransformer) -> dict[str, torch.Tensor]:
    """`LlamaForCausalLM` weights of a Llama-style HookedTransformer (see the module docstring)."""
    _check_exportable(model)
    cfg = model.cfg
    n_kv = cfg.n_key_value_heads or cfg.n_heads
    gqa = "_" if cfg.n_key_value_heads is not None else ""
    p = {name: t.detach().cpu().contiguous() for name, t in model.named_parameters()}
    out = {"model.embed_tokens.weight": p["embed.W_E"], "model.norm.weight": p["ln_final.w"]}
    out["lm_head.weight"] = p["unembed.W_U"].T
    for layer in range(cfg.n_layers):
        tl, hf = f"blocks.{layer}.", f"model.layers.{layer}."
        out[hf + "input_layernorm.weight"] = p[tl + "ln1.w"]
        out[hf + "post_attention_layernorm.weight"] = p[tl + "ln2.w"]
        out[hf + "self_attn.q_proj.weight"] = rearrange(p[tl + "attn.W_Q"], "n m h -> (n h) m")
        for proj, name in (("k_proj", "W_K"), ("v_proj", "W_V")):
            weight = p[f"{tl}attn.{gqa}{name}"]
            assert weight.shape[0] == n_kv
            out[f"{hf}self_attn.{proj}.weight"] = rearrange(weight, "n m h -> (n h) m")
        out[hf + "self_attn.o_proj.weight"] = rearrange(p[tl + "attn.W_O"], "n h m -> m (n h)")
        out[hf + "mlp.up_proj.weight"] = p[tl + "mlp.W_in"].T
        out[hf + "mlp.gate_proj.weight"] = p[tl + "mlp.W_gate"].T
        out[hf + "mlp.down_proj.weight"] = p[tl + "mlp.W_out"].T
    return {k: v.contiguous() for k, v in out.items()}


def export_hf(model: HookedTransformer, tokenizer, out: str | Path) -> Path:
    """Save `model` and its tokenizer as a Hugging Face `LlamaForCausalLM` directory."""
    from transformers import LlamaForCausalLM

    out = Path(out)
    state = hf_llama_state_dict(model)
    with torch.device("meta"):
        hf_model = LlamaForCausalLM(hf_llama_config(model))
    hf_model.load_state_dict(state, strict=True, assign=True)
    out.mkdir(parents=True, exist_ok=True)
    hf_model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
