"""Data parallelism over prompt batches with `torch.distributed` (one process or many, same numbers).

Launched with `torchrun --nproc-per-node N`, every rank loads the model on its own device
(`rank_device`), takes a contiguous block of the *global* batches (`my_batches`), and the
results are all-gathered in rank order, which is the original prompt order. Because a batch is
the same set of prompts on one process or many (same padding, same shapes), counts and rates are
identical and activations agree to float tolerance (thread counts may differ). Every rank then
holds the full results, so what is computed from them (directions, probes, rates) is identical
on all ranks; only rank 0 writes figures and artifacts (`is_main`, `main_first`).

Without torchrun (no `WORLD_SIZE` in the environment) nothing is initialised and every helper
is the identity: world size 1, rank 0.

Model parallelism: `--n-devices K` splits each rank's model over K GPUs with TransformerLens's
own `n_devices` (blocks assigned in order from the rank's first device); rank r uses GPUs
r*K .. r*K+K-1 of its node (`rank_device(devices_per_rank=K)`).
"""

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from mechrefusal._typing import Tensor


@dataclass(frozen=True)
class World:
    """Where this process stands: its rank among `size` processes, and its rank on the node."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0


_SOLO = False
"""True inside `main_first`: each rank works alone."""


def world() -> World:
    """The process group collectives run over (world size 1 when none is initialised, and
    inside `main_first`, where each rank works alone)."""
    return World() if _SOLO else _joined()


def _joined() -> World:
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(
        rank=dist.get_rank(),
        size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())),
    )


def is_main() -> bool:
    """Rank 0, the only rank that writes figures and artifacts (also inside `main_first`)."""
    return _joined().rank == 0


def init_from_env(
    *, devices_per_rank: int = 1, device: str | None = None, timeout_minutes: float = 30.0
) -> World:
    """Join the process group that `torchrun` describes (RANK, WORLD_SIZE, MASTER_ADDR, ...).

    NCCL with one GPU set per rank when this node has GPUs and `device` (the `--device` asked
    for) does not say otherwise; gloo on CPU, also on a GPU node when `device` is "cpu" (two
    CPU ranks on a one-GPU machine must not each claim a GPU). A no-op without torchrun or
    when already joined.
    """
    if dist.is_available() and dist.is_initialized():
        return _joined()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return World()
    if not dist.is_available():
        raise RuntimeError("This PyTorch build has no torch.distributed; run one process.")
    gpus = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    if gpus:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(_first_gpu(local_rank, devices_per_rank))
    dist.init_process_group("nccl" if gpus else "gloo", timeout=timedelta(minutes=timeout_minutes))
    return _joined()


def _first_gpu(local_rank: int, devices_per_rank: int) -> int:
    first = local_rank * devices_per_rank
    if first + devices_per_rank > torch.cuda.device_count():
        raise RuntimeError(
            f"Rank {local_rank} needs GPUs {first}..{first + devices_per_rank - 1} but this node "
            f"has {torch.cuda.device_count()}: use --nproc-per-node x --n-devices <= GPUs."
        )
    return first


def rank_device(requested: str | None = None, *, devices_per_rank: int = 1) -> str | None:
    """The device this rank loads its model on.

    An explicit `requested` device wins. Under torchrun with GPUs: `cuda:<local_rank * K>` (the
    first of the rank's K GPUs); on CPU, or in one process, `requested` (None: TL's choice).
    """
    if requested is not None or world().size == 1 or not torch.cuda.is_available():
        return requested
    return f"cuda:{_first_gpu(world().local_rank, devices_per_rank)}"


def my_batches(n_batches: int) -> range:
    """This rank's contiguous block of batch indices (blocks in rank order tile 0..n_batches)."""
    w = world()
    return range(w.rank * n_batches // w.size, (w.rank + 1) * n_batches // w.size)


def my_batch_rows(n_items: int, batch_size: int) -> list[range]:
    """Row ranges of this rank's batches; batch b is rows b*batch_size.. on any number of ranks,
    so a batch holds the same prompts (and padding) however many processes run."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    starts = range(0, n_items, batch_size)
    return [range(starts[b], min(starts[b] + batch_size, n_items)) for b in my_batches(len(starts))]


def barrier() -> None:
    if world().size > 1:
        dist.barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. training and caching a model); the other ranks wait,
    then run it too (reading what rank 0 cached). Inside the block every rank works alone
    (world size 1, no collectives), since the ranks run it at different times. A failure on
    rank 0 is raised there, and torchrun stops the others."""
    global _SOLO
    joined = _joined()
    if joined.size > 1 and joined.rank != 0:
        dist.barrier()
    _SOLO, was = True, _SOLO
    try:
        yield
    finally:
        _SOLO = was
    if joined.size > 1 and joined.rank == 0:
        dist.barrier()


def all_gather_objects(local: Sequence) -> list:
    """Concatenate every rank's list in rank order (small picklable items: ids, texts, records)."""
    if world().size == 1:
        return list(local)
    gathered: list = [None] * world().size
    dist.all_gather_object(gathered, list(local))
    return [item for part in gathered for item in part]


def all_gather_rows(local: Tensor | None) -> Tensor:
    """Concatenate every rank's rows (dim 0) in rank order, on the local tensor's device.

    Ranks may hold different numbers of rows, or none (`None`, when a rank got no batch): rows
    are padded to the largest count for one tensor collective, then trimmed.
    """
    if world().size == 1:
        if local is None:
            raise ValueError("Nothing to gather: no rows on the only rank.")
        return local
    shapes = all_gather_objects([None if local is None else (tuple(local.shape), local.dtype)])
    known = [s for s in shapes if s is not None]
    if not known:
        raise ValueError("Nothing to gather: no rank holds any rows.")
    trailing, dtype = known[0][0][1:], known[0][1]
    comm = torch.device("cuda", torch.cuda.current_device()) if _nccl() else torch.device("cpu")
    rows = [0 if s is None else s[0][0] for s in shapes]
    padded = torch.zeros((max(rows), *trailing), dtype=dtype, device=comm)
    if local is not None:
        padded[: local.shape[0]] = local.to(comm)
    parts = [torch.empty_like(padded) for _ in rows]
    dist.all_gather(parts, padded)
    out = torch.cat([part[:n] for part, n in zip(parts, rows, strict=True)])
    return out.to(local.device) if local is not None else out.cpu()


def _nccl() -> bool:
    return dist.get_backend() == "nccl"
