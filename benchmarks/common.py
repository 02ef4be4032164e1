"""What every benchmark script shares: median timing and merging its numbers into one file."""

import json
import statistics
import time
from pathlib import Path


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
