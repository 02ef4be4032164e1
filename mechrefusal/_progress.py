"""Progress bars, switched off in one place.

Every long loop in the package draws a `tqdm` bar through this module's `tqdm`, which adds one
global switch to the per-call `disable=`: `set_progress(False)` (or the environment variable
`MECHREFUSAL_PROGRESS=0`) silences them all, for notebooks, logs and batch jobs.
"""

import os

from tqdm.auto import tqdm as _tqdm

_ENABLED = [os.environ.get("MECHREFUSAL_PROGRESS", "1") not in ("0", "false", "no", "off")]


def set_progress(enabled: bool) -> None:
    """Turn every mechrefusal progress bar on or off."""
    _ENABLED[0] = bool(enabled)


def progress_enabled() -> bool:
    return _ENABLED[0]


def tqdm(*args, disable: bool = False, **kwargs):
    """`tqdm.auto.tqdm`, disabled when the call asks or when bars are switched off globally."""
    return _tqdm(*args, disable=disable or not _ENABLED[0], **kwargs)
