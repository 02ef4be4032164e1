"""Session fixtures: a tiny random Llama-style model and the micro organism (trained once per worker)."""

import os
import random

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One thread per xdist worker: two workers on two cores must not oversubscribe them.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from mechrefusal.data.prompts import PromptSetSizes, generate_prompts
    from mechrefusal.models.tokenizer import train_tokenizer

    sizes = PromptSetSizes(
        harmful={"train": 10, "direction": 2, "eval": 2},
        contrast={"train": 10, "direction": 2, "eval": 2},
        benign={"train": 40, "direction": 8, "eval": 8},
    )
    texts = [p.prompt for p in generate_prompts(0, sizes)]
    return train_tokenizer(texts, vocab_size=400)


@pytest.fixture(scope="session")
def make_tiny_hooked():
    """Factory: a seeded random Llama-style HookedTransformer (GQA) for `tokenizer`, with the
    tokenizer attached; `overrides` change its `llama_config` (e.g. layers, context)."""
    from transformer_lens import HookedTransformer

    from mechrefusal.models.architecture import llama_config
    from mechrefusal.models.tokenizer import attach_tokenizer

    def make(tokenizer, **overrides):
        settings = dict(n_layers=2, d_model=32, n_heads=4, n_kv_heads=2, d_mlp=64, n_ctx=96, seed=0)
        model = HookedTransformer(llama_config(d_vocab=len(tokenizer), **settings | overrides))
        model.eval()
        attach_tokenizer(model, tokenizer)
        return model

    return make


@pytest.fixture(scope="session")
def tiny_model(tiny_tokenizer, make_tiny_hooked):
    """2-layer random Llama-style HookedTransformer with grouped-query attention."""
    return make_tiny_hooked(tiny_tokenizer)


@pytest.fixture(scope="session")
def make_tiny_llama():
    """Factory: a seeded 2-layer random HF `LlamaForCausalLM` (GQA) for `tokenizer`; `overrides`
    change its `LlamaConfig` (e.g. tied embeddings, init scale)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    def make(tokenizer, **overrides):
        torch.manual_seed(0)
        settings = dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=128,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        config = LlamaConfig(**settings | overrides)
        return LlamaForCausalLM(config).eval()

    return make


@pytest.fixture(scope="session")
def artifacts_root(tmp_path_factory):
    """An artifacts root holding the trained micro organism."""
    from mechrefusal.models.loading import ensure_organism

    root = tmp_path_factory.mktemp("artifacts")
    ensure_organism("micro", root=root, log=lambda *_: None)
    return root


@pytest.fixture(scope="session")
def micro(artifacts_root):
    from mechrefusal.models.loading import load_model

    return load_model("organism:micro", root=artifacts_root, log=lambda *_: None)


@pytest.fixture(scope="session")
def router(micro):
    """The figures' router on the micro organism: directions on the direction split, probes on
    train + direction (the threshold is calibrated on held-out frames; the direction split alone
    has too few for the probe to route any eval prompt as harmful), at layer 1. A module that
    needs another defines its own `router`."""
    from mechrefusal.data.prompts import select
    from mechrefusal.steering.router import fit_router

    direction = select(micro.prompts, split="direction")
    train = select(micro.prompts, split="train")
    return fit_router(
        micro.model, direction, layer=1, probe_prompts=train + direction, progress=False
    )


@pytest.fixture(scope="session")
def micro_base(artifacts_root):
    from mechrefusal.models.loading import load_model

    return load_model("organism-base:micro", root=artifacts_root, log=lambda *_: None)


@pytest.fixture(autouse=True)
def _no_default_activation_store():
    """Experiment scripts set a process-wide activation store; no test inherits another's."""
    from mechrefusal.store.activation_store import set_default_store

    set_default_store(None)  # never the checkout's artifacts/ store
    yield
    set_default_store(None)
