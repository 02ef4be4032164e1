"""Llama-style `HookedTransformerConfig`s: built from sizes (organism) or an HF config (real models).

One place knows which TransformerLens fields make a model "Llama": RMSNorm, rotary embeddings
(non-adjacent pairs, as HF Llama), gated SiLU MLP, grouped-query attention, no biases. The
config round-trips through a JSON-able dict for artifacts.
"""

from typing import Any

from transformer_lens import HookedTransformerConfig

_SAVED_FIELDS = (
    "n_layers",
    "d_model",
    "n_heads",
    "d_head",
    "n_key_value_heads",
    "d_mlp",
    "d_vocab",
    "n_ctx",
    "act_fn",
    "normalization_type",
    "positional_embedding_type",
    "rotary_dim",
    "rotary_adjacent_pairs",
    "rotary_base",
    "gated_mlp",
    "final_rms",
    "eps",
    "original_architecture",
    "default_prepend_bos",
)


def llama_config(
    *,
    n_layers: int,
    d_model: int,
    n_heads: int,
    n_kv_heads: int,
    d_mlp: int,
    d_vocab: int,
    n_ctx: int,
    eps: float = 1e-5,
    rotary_base: float = 10000.0,
    seed: int | None = None,
    dtype=None,
    device: str | None = None,
) -> HookedTransformerConfig:
    """A Llama-architecture TL config; `n_kv_heads < n_heads` means grouped-query attention."""
    if d_model % n_heads:
        raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads}).")
    if n_heads % n_kv_heads:
        raise ValueError(f"n_heads ({n_heads}) must be divisible by n_kv_heads ({n_kv_heads}).")
    kwargs: dict[str, Any] = {}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if device is not None:
        kwargs["device"] = device
    return HookedTransformerConfig(
        n_layers=n_layers,
        d_model=d_model,
        n_heads=n_heads,
        d_head=d_model // n_heads,
        n_key_value_heads=n_kv_heads if n_kv_heads != n_heads else None,
        d_mlp=d_mlp,
        d_vocab=d_vocab,
        n_ctx=n_ctx,
        act_fn="silu",
        normalization_type="RMS",
        positional_embedding_type="rotary",
        rotary_dim=d_model // n_heads,
        rotary_adjacent_pairs=False,
        rotary_base=rotary_base,
        gated_mlp=True,
        final_rms=True,
        eps=eps,
        original_architecture="LlamaForCausalLM",
        default_prepend_bos=False,
        seed=seed,
        **kwargs,
    )


def config_from_hf(
    hf_config, *, dtype=None, device: str | None = None, n_ctx: int | None = None
) -> HookedTransformerConfig:
    """TL config for an HF `LlamaConfig` (no network; extended vocabularies respected)."""
    arch = (getattr(hf_config, "architectures", None) or ["LlamaForCausalLM"])[0]
    if getattr(hf_config, "model_type", "llama") != "llama":
        raise ValueError(
            f"Only Llama-family models are supported (got model_type={hf_config.model_type!r}, "
            f"architecture {arch!r})."
        )
    rope = getattr(hf_config, "rope_theta", None)
    if rope is None:
        rope = (getattr(hf_config, "rope_parameters", None) or {}).get("rope_theta", 10000.0)
    cfg = llama_config(
        n_layers=hf_config.num_hidden_layers,
        d_model=hf_config.hidden_size,
        n_heads=hf_config.num_attention_heads,
        n_kv_heads=getattr(hf_config, "num_key_value_heads", None) or hf_config.num_attention_heads,
        d_mlp=hf_config.intermediate_size,
        d_vocab=hf_config.vocab_size,
        n_ctx=min(n_ctx or hf_config.max_position_embeddings, hf_config.max_position_embeddings),
        eps=hf_config.rms_norm_eps,
        rotary_base=float(rope),
        dtype=dtype,
        device=device,
    )
    _apply_rope_scaling(cfg, hf_config)
    return cfg


def _apply_rope_scaling(cfg: HookedTransformerConfig, hf_config) -> None:
    """Llama-3.1-style rope scaling, using TL's own helper where this TL version has it."""
    try:
        from transformer_lens.loading_from_pretrained import _apply_llama3_rope_scaling
    except ImportError:
        return
    fields: dict[str, Any] = {}
    _apply_llama3_rope_scaling(fields, hf_config)
    for key, value in fields.items():
        setattr(cfg, key, value)


def config_to_dict(cfg: HookedTransformerConfig) -> dict[str, Any]:
    return {f: getattr(cfg, f) for f in _SAVED_FIELDS}


def config_from_dict(data: dict[str, Any]) -> HookedTransformerConfig:
    unknown = set(data) - set(_SAVED_FIELDS)
    if unknown:
        raise ValueError(f"Unknown model config fields {sorted(unknown)}.")
    return HookedTransformerConfig(**data)
