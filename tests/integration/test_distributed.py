"""Data parallelism: two gloo processes give the single process's numbers (docs/performance.md, "Many processes")."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from mechrefusal import distributed
from mechrefusal.analysis.activations import POSITIONS, cache_activations
from mechrefusal.analysis.directions import compute_directions
from mechrefusal.data.prompts import select
from mechrefusal.models.loading import load_model
from mechrefusal.scoring.evaluation import evaluate, summarize
from mechrefusal.steering.comparison import run_method
from mechrefusal.steering.methods import Categorical
from mechrefusal.steering.router import fit_router
from mechrefusal.store.activation_store import ActivationStore

ROOT = Path(__file__).resolve().parents[2]
BATCH = 8
HOOK = "blocks.1.hook_resid_post"


def _measure(loaded, store_dir: Path):
    """Everything the test compares: activations, directions, rates, a steering run."""
    model, prompts = loaded.model, loaded.prompts
    direction = select(prompts, split="direction")
    evaluation = select(prompts, split="eval")[:44]  # 6 batches: 3 per rank
    texts = [p.prompt for p in evaluation]
    acts = cache_activations(model, texts, [HOOK], batch_size=BATCH, progress=False, store=None)
    stored = cache_activations(
        model, texts, [HOOK], batch_size=BATCH, progress=False, store=ActivationStore(store_dir)
    )
    # One batch only: rank 1 holds no rows and still takes part in the gather.
    few = cache_activations(model, texts[:3], [HOOK], batch_size=BATCH, progress=False, store=None)
    dirs = compute_directions(model, direction, layer=1, batch_size=BATCH, progress=False)
    router = fit_router(
        model,
        direction,
        layer=1,
        probe_prompts=select(prompts, split="train")[:200] + direction,
        seed=0,
        progress=False,
    )
    steered = run_method(model, router, evaluation, Categorical(), batch_size=BATCH)
    tensors = {"acts": acts[HOOK], "stored": stored[HOOK], "few": few[HOOK], "dirs": dirs.dense}
    numbers = {
        "eval": evaluate(model, evaluation, batch_size=BATCH, progress=False).to_dict(),
        "steered": summarize(steered).to_dict(),
        "steered_tokens": [a.first_token for a in steered],
    }
    return tensors, numbers


def _worker(rank: int, world_size: int, init_file: str, root: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size
    )
    try:
        loaded = load_model("organism:micro", root=root, log=lambda *_: None)
        tensors, numbers = _measure(loaded, Path(out) / "store")
        if distributed.is_main():
            save_file({k: v.contiguous() for k, v in tensors.items()}, f"{out}/tensors.st")
            Path(out, "numbers.json").write_text(json.dumps(numbers))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_process_run(artifacts_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    mp.spawn(
        _worker,
        args=(2, str(out / "init"), str(artifacts_root), str(out)),
        nprocs=2,
        join=True,
    )
    return out


def test_two_processes_reproduce_one(micro, two_process_run, tmp_path):
    tensors, numbers = _measure(micro, tmp_path / "store")
    theirs = load_file(str(two_process_run / "tensors.st"))
    assert json.loads((two_process_run / "numbers.json").read_text()) == numbers
    for name, mine in tensors.items():
        torch.testing.assert_close(theirs[name], mine, atol=1e-5, rtol=1e-5, msg=name)


def test_sharded_store_reads_back_as_one_set(micro, two_process_run, monkeypatch):
    entries = [p for p in (two_process_run / "store").iterdir() if p.is_dir()]
    assert len(entries) == len(POSITIONS)  # one forward stores every position
    for entry in entries:
        shards = sorted(p.name for p in entry.glob("shard-*.safetensors"))
        assert shards == ["shard-00000-of-00002.safetensors", "shard-00001-of-00002.safetensors"]
    # Read back in one process: served from disk, never recomputed.
    monkeypatch.setattr(
        "mechrefusal.analysis.activations._shard_at_positions",
        lambda *a, **k: pytest.fail("recomputed a cached entry"),
    )
    texts = [p.prompt for p in select(micro.prompts, split="eval")[:44]]
    got = cache_activations(
        micro.model,
        texts,
        [HOOK],
        batch_size=BATCH,
        progress=False,
        store=ActivationStore(two_process_run / "store"),
    )
    theirs = load_file(str(two_process_run / "tensors.st"))
    torch.testing.assert_close(got[HOOK], theirs["acts"], atol=1e-5, rtol=1e-5)


def test_torchrun_experiment_writes_once_and_matches(artifacts_root, tmp_path):
    """The README's command: `torchrun` on an experiment script; only rank 0 writes."""
    script = ROOT / "experiments" / "00_organism_baseline.py"
    common = [
        "--quick",
        "--artifacts",
        str(artifacts_root),
        "--device",
        "cpu",
    ]  # one GPU is not two
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run(
        [sys.executable, str(script), *common, "--out", str(one)], check=True, env=env, cwd=ROOT
    )
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    subprocess.run(
        [*torchrun, "--standalone", str(script), *common, "--out", str(two)],
        check=True,
        env=env,
        cwd=ROOT,
    )
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    mine, theirs = (json.loads((d / "00_organism_baseline.json").read_text()) for d in (one, two))
    assert theirs["data"] == mine["data"]


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="model parallelism needs 2 GPUs")
def test_model_split_over_two_gpus_matches_one(artifacts_root, micro):
    """TransformerLens's `n_devices` split (DESIGN: ranks x devices per rank)."""
    kwargs = {"root": artifacts_root, "log": lambda *_: None, "device": "cuda:0"}
    one = load_model("organism:micro", **kwargs)
    two = load_model("organism:micro", n_devices=2, **kwargs)
    assert {p.device.index for p in two.model.parameters()} == {0, 1}
    prompts = select(micro.prompts, split="eval")[:32]
    assert evaluate(two.model, prompts, progress=False) == evaluate(
        one.model, prompts, progress=False
    )


def test_rank_device_maps_ranks_to_blocks_of_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    for rank, expected in [(0, "cuda:0"), (1, "cuda:2"), (3, "cuda:6")]:
        monkeypatch.setattr(distributed, "_joined", lambda r=rank: distributed.World(r, 4, r))
        assert distributed.rank_device(devices_per_rank=2) == expected
        assert distributed.rank_device("cpu", devices_per_rank=2) == "cpu"  # explicit wins
    monkeypatch.setattr(distributed, "_joined", lambda: distributed.World(3, 4, 3))
    with pytest.raises(RuntimeError, match="GPUs 9..11"):
        distributed.rank_device(devices_per_rank=3)


def test_cpu_ranks_on_a_gpu_node_claim_no_gpu(monkeypatch):
    """Found on a one-GPU machine: two `--device cpu` ranks each claimed a GPU and rank 1 failed."""
    joined = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: joined.append(f"cuda:{i}"))
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend, **_: joined.append(backend))
    monkeypatch.setattr(distributed, "_joined", lambda: distributed.World(1, 2, 1))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    distributed.init_from_env(device="cpu")
    assert joined == ["gloo"]
    with pytest.raises(RuntimeError, match="Rank 1 needs GPUs 1..1"):
        distributed.init_from_env()  # asked for nothing: GPUs, and this node has too few
    joined.clear()
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    distributed.init_from_env(device="cuda")
    assert joined == ["cuda:1", "nccl"]


def _failing_worker(rank: int, world_size: int, init_file: str, root: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size
    )
    loaded = load_model("organism:micro", root=root, log=lambda *_: None)
    texts = [p.prompt for p in select(loaded.prompts, split="eval")[:16]]
    hook = HOOK if rank == 0 else "blocks.1.hook_resid_pots"  # rank 1 fails before any gather
    acts = cache_activations(
        loaded.model, texts, [hook], batch_size=BATCH, store=ActivationStore(Path(out) / "store")
    )
    Path(out, "result.st").write_bytes(b"" if acts is None else b"written")


def test_a_failing_rank_stops_the_run_and_nothing_is_completed(artifacts_root, tmp_path):
    with pytest.raises(mp.ProcessRaisedException, match="hook_resid_pots"):
        mp.spawn(
            _failing_worker,
            args=(2, str(tmp_path / "init"), str(artifacts_root), str(tmp_path)),
            nprocs=2,
            join=True,
        )
    assert not (tmp_path / "result.st").exists()
    assert not list((tmp_path / "store").rglob("index.json"))  # the entry stays incomplete
