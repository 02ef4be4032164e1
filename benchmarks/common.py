"""What every benchmark script shares: median timing and merging its numbers into one file.

Importing it turns the package's default activation store off: a benchmark must time the
computation, never a read of what an earlier run cached.
"""

import json
import statistics
import time
from pathlib import Path

from mechrefusal.store.activation_store import set_default_store

set_default_store(None)


def timed(fn, repeats: int) -> float:
    """Median wall time of `repeats` calls after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def merge_results(out: str | Path, results: dict) -> Path:
    """Update benchmarks/results.json with these keys; other scripts' keys are kept."""
    out = Path(out)
    kept = json.loads(out.read_text()) if out.exists() else {}
    out.write_text(json.dumps({**kept, **results}, indent=2) + "\n")
    print(f"wrote {out}")
    return out
