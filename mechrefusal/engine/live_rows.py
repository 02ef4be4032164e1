"""Which rows of a batch a decoding step still runs.

Greedy generation drops a row from the batch once it has stopped (`generation.greedy_generate`):
on CPU a step costs about its row count, and HF `generate` keeps every row until the last one
stops. A hook that holds one entry per prompt (a routed steering vector per row) reads it
through `live_rows`, which cuts it to the rows of the current forward; outside a decoding step
it returns the tensor unchanged.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from mechrefusal._typing import Int, Tensor

_ROWS: list[Tensor | None] = [None]


def live_rows(per_prompt: Tensor) -> Tensor:
    """`per_prompt` (first dimension: the prompts of the batch) cut to the rows being run."""
    rows = _ROWS[0]
    return per_prompt if rows is None else per_prompt[rows.to(per_prompt.device)]


@contextmanager
def running_rows(rows: Int[Tensor, " live"] | None) -> Iterator[None]:
    """Within the block, `live_rows` cuts per-prompt tensors to `rows` (None: every row)."""
    previous, _ROWS[0] = _ROWS[0], rows
    try:
        yield
    finally:
        _ROWS[0] = previous
