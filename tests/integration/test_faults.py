"""Interrupted and concurrent runs: a rerun resumes with no corrupt artifact and the same
numbers, and two processes sharing one artifact store do not corrupt it.

Each fault is real: a subprocess is killed with SIGKILL half-way through writing a file (the
moment a power cut or an out-of-memory kill would leave a torn file behind), or two
subprocesses train the same model into one store at once.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and flock are POSIX")

NANO_CONFIG = """
from dataclasses import replace
from mechrefusal.data.prompts import PromptSetSizes
from mechrefusal.models.organism import MICRO
NANO = replace(
    MICRO,
    name="nano",
    d_model=32,
    n_layers=1,
    d_mlp=64,
    sizes=PromptSetSizes(
        harmful={"train": 20, "direction": 5, "eval": 5, "paraphrase": 5},
        contrast={"train": 10, "direction": 5, "eval": 5, "paraphrase": 5},
        benign={"train": 40, "direction": 10, "eval": 10, "paraphrase": 10},
    ),
    pretrain_steps=4,
    sft_steps=4,
    batch_size=8,
)
"""
"""An organism that trains in seconds: the faults are about files, not about the model. The
same text configures it here and in the subprocesses."""
_scope: dict = {}
exec(NANO_CONFIG, _scope)
NANO = _scope["NANO"]

# Kills its own process half-way through writing a file whose name contains $DIE_WRITING.
KILL_MID_WRITE = """
import os, signal
from pathlib import Path
_write_text = Path.write_text
def _dying_write_text(self, data, *args, **kwargs):
    if os.environ["DIE_WRITING"] in self.name:
        with open(self, "w") as handle:
            handle.write(data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    return _write_text(self, data, *args, **kwargs)
Path.write_text = _dying_write_text
"""

TRAIN_NANO = (
    NANO_CONFIG
    + """
import sys
from mechrefusal.models.loading import ensure_organism
ensure_organism(config=NANO, root=sys.argv[1], log=lambda m: print(m, flush=True))
"""
)


def _python(code: str, *args: str, die_writing: str | None = None, wait: bool = True):
    env = {**os.environ, "DIE_WRITING": die_writing or "", "OMP_NUM_THREADS": "1"}
    prelude = KILL_MID_WRITE if die_writing else ""
    cmd = [sys.executable, "-c", textwrap.dedent(prelude + code), *args]
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=subprocess.PIPE, text=True)
    return proc.communicate(timeout=300) + (proc.returncode,) if wait else proc


def test_organism_killed_while_writing_its_record_is_trained_again(tmp_path):
    from mechrefusal.models.loading import ensure_organism, load_model_dir

    *_, code = _python(TRAIN_NANO, str(tmp_path), die_writing="organism.json")
    assert code == -9  # killed half-way through the record
    out = ensure_organism(config=NANO, root=tmp_path, log=lambda m: None)
    record = json.loads((out / "organism.json").read_text())  # whole, not torn
    assert record["config"]["name"] == "nano"
    for variant in ("base", "refusal", "control"):
        load_model_dir(out / variant)
    # The same numbers as a run that was never interrupted (same config, same seed).
    clean = ensure_organism(config=NANO, root=tmp_path / "clean", log=lambda m: None)
    a, b = (load_model_dir(d / "refusal").model.state_dict() for d in (out, clean))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_two_processes_sharing_a_store_train_one_organism(tmp_path):
    from mechrefusal.models.loading import load_model_dir

    procs = [_python(TRAIN_NANO, str(tmp_path), wait=False) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    # The second process waited for the first and found its organism.
    assert sum(o.count("training organism") for o in outputs) == 1, outputs
    for variant in ("base", "refusal", "control"):
        load_model_dir(tmp_path / "organism" / "nano" / variant)


CACHE_ACTIVATIONS = (
    NANO_CONFIG
    + """
import sys
from mechrefusal.analysis.activations import cache_activations
from mechrefusal.models.loading import ensure_organism, load_model_dir
from mechrefusal.store.activation_store import ActivationStore, set_default_store
loaded = load_model_dir(ensure_organism(config=NANO, root=sys.argv[1], log=lambda m: None) / "refusal")
set_default_store(ActivationStore(sys.argv[2]))
texts = [p.prompt for p in loaded.prompts if p.split == "eval"]
cache_activations(loaded.model, texts, ["blocks.0.hook_resid_post"], batch_size=4, progress=False)
"""
)


def test_activation_store_entry_killed_mid_write_is_recomputed(tmp_path):
    from mechrefusal.analysis.activations import cache_activations
    from mechrefusal.models.loading import ensure_organism, load_model_dir
    from mechrefusal.store.activation_store import ActivationStore, set_default_store

    organism = ensure_organism(config=NANO, root=tmp_path, log=lambda m: None)
    store = tmp_path / "activations"
    *_, code = _python(CACHE_ACTIVATIONS, str(tmp_path), str(store), die_writing="index.json")
    assert code == -9  # the shard was written, the index half-way
    assert list(store.rglob("shard-*.safetensors")) and not list(store.rglob("index.json"))
    loaded = load_model_dir(organism / "refusal")
    texts = [p.prompt for p in loaded.prompts if p.split == "eval"]
    hook = "blocks.0.hook_resid_post"
    set_default_store(ActivationStore(store))
    try:
        resumed = cache_activations(loaded.model, texts, [hook], batch_size=4, progress=False)
        again = cache_activations(loaded.model, texts, [hook], batch_size=4, progress=False)
    finally:
        set_default_store(None)
    direct = cache_activations(
        loaded.model, texts, [hook], batch_size=4, progress=False, store=None
    )
    assert list(store.rglob("index.json"))  # the rerun completed the entry
    torch.testing.assert_close(resumed[hook], direct[hook])
    torch.testing.assert_close(again[hook], direct[hook])


def test_organism_killed_while_training_leaves_no_lock_and_trains_the_same(tmp_path):
    """SIGKILL in the middle of training (not of a write): the store lock dies with the
    process, and the rerun trains the organism the same as a run never interrupted."""
    import signal

    from mechrefusal.models.loading import ensure_organism, load_model_dir

    proc = _python(TRAIN_NANO, str(tmp_path), wait=False)
    for line in proc.stdout:
        if "training organism" in line:
            break
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -9
    assert not (tmp_path / "organism" / "nano" / "organism.json").exists()
    out = ensure_organism(config=NANO, root=tmp_path, log=lambda m: None)  # no deadlock
    clean = ensure_organism(config=NANO, root=tmp_path / "clean", log=lambda m: None)
    a, b = (load_model_dir(d / "refusal").model.state_dict() for d in (out, clean))
    assert all(torch.equal(a[k], b[k]) for k in a)


# Kills its own process half-way through writing a figure's PNG.
KILL_MID_SAVEFIG = """
import os, signal
from matplotlib.figure import Figure
def _dying_savefig(self, path, *args, **kwargs):
    with open(path, "wb") as handle:
        handle.write(b"\\x89PNG torn")
    os.kill(os.getpid(), signal.SIGKILL)
Figure.savefig = _dying_savefig
"""

FIGURE_03 = """
import sys, runpy
sys.argv = ["03_direction_cosine.py", "--quick", "--out", sys.argv[1], "--artifacts", sys.argv[2]]
runpy.run_path("experiments/03_direction_cosine.py", run_name="__main__")
"""


def test_figure_killed_while_writing_its_png_leaves_no_torn_figure(tmp_path, artifacts_root):
    out = tmp_path / "figures"
    *_, code = _python(KILL_MID_SAVEFIG + FIGURE_03, str(out), str(artifacts_root))
    assert code == -9
    assert not (out / "03_direction_cosine.png").exists()  # only the temporary file is torn
    assert not (out / "03_direction_cosine.json").exists()
    *_, code = _python(FIGURE_03, str(out), str(artifacts_root))
    assert code == 0
    png = (out / "03_direction_cosine.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    record = json.loads((out / "03_direction_cosine.json").read_text())
    *_, code = _python(FIGURE_03, str(tmp_path / "clean"), str(artifacts_root))
    clean = json.loads((tmp_path / "clean" / "03_direction_cosine.json").read_text())
    assert record["data"] == clean["data"]
