"""Data-parallel benchmark: caching + evaluation on 1 vs 2 processes launched with torchrun.

The same work (cache one layer's activations for the eval split, then generate and score
answers for it) runs once as 1 process with 2 threads and once as 2 processes with 1 thread
each: the fair split of this machine's 2 cores. Reports both wall times, their ratio, and
whether the two runs gave identical rates. On 2 cores little gain is expected; the point is
the path to many GPUs. Merges its numbers into benchmarks/results.json ("data_parallel").
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import merge_results  # noqa: E402

CORES = 2


def worker(args: argparse.Namespace) -> None:
    """One rank of a torchrun launch: time caching + evaluation, rank 0 writes the numbers."""
    import torch

    from mechrefusal import distributed
    from mechrefusal.analysis.activations import cache_activations
    from mechrefusal.data.prompts import select
    from mechrefusal.engine.hooks import hook_name
    from mechrefusal.models.loading import load_model
    from mechrefusal.scoring.evaluation import evaluate

    distributed.init_from_env()
    with distributed.main_first():
        loaded = load_model(args.model, root=args.artifacts, device=distributed.rank_device())
    prompts = select(loaded.prompts, split="eval")
    model = loaded.model
    hook = hook_name("resid_post", model.cfg.n_layers // 2)
    distributed.barrier()
    start = time.perf_counter()
    acts = cache_activations(model, [p.prompt for p in prompts], [hook], store=None, progress=False)
    rates = evaluate(model, prompts, progress=False).to_dict()
    distributed.barrier()
    seconds = time.perf_counter() - start
    if distributed.is_main():
        record = {
            "seconds": seconds,
            "processes": distributed.world().size,
            "threads_per_process": torch.get_num_threads(),
            "prompts": len(prompts),
            "activation_rows": acts[hook].shape[0],
            "rates": rates,
            "model": loaded.spec,
        }
        Path(args.record).write_text(json.dumps(record))


def launch(processes: int, args: argparse.Namespace, record: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(CORES // processes)}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(processes),
        __file__,
        "--worker",
        "--model",
        args.model,
        "--artifacts",
        args.artifacts,
        "--record",
        str(record),
    ]
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    return json.loads(record.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="organism")
    parser.add_argument("--artifacts", default="artifacts")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--record", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        launch(1, args, Path(tmp) / "warm.json")  # trains / loads the model once, warms caches
        one = launch(1, args, Path(tmp) / "one.json")
        two = launch(2, args, Path(tmp) / "two.json")
    result = {
        "one_process_s": one["seconds"],
        "two_processes_s": two["seconds"],
        "ratio_two_vs_one": two["seconds"] / one["seconds"],
        "identical_rates": one["rates"] == two["rates"],
        "prompts": one["prompts"],
        "model": one["model"],
        "threads": {"one": one["threads_per_process"], "two": two["threads_per_process"]},
    }
    print(json.dumps(result, indent=2))
    merge_results(args.out, {"data_parallel": result})


if __name__ == "__main__":
    main()
