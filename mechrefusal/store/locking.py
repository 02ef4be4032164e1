"""One writer per cached artifact: processes that share an artifact store wait for each other.

Two `make figures` (or a figure script and `mechrefusal eval`) started on one store would
otherwise both train the same model and write its files at once. `artifact_lock(target)`
holds an exclusive lock on a small file beside `target` while the caller checks the cache
and, if needed, builds and writes it; the second process then finds the finished copy. The
lock is released by the kernel when its process dies, so a killed run never blocks the next.
"""

import contextlib
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover  (no advisory locks: one process at a time, as before)
    fcntl = None


@contextlib.contextmanager
def artifact_lock(target: str | Path) -> Iterator[None]:
    """Hold the lock of `target` (a file or directory in the store) for the block."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    with open(target.parent / f".{target.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
