"""Where things live: the package, the source checkout around it, and the artifact store.

The artifact store (trained models, activation caches) is resolved from a documented default
instead of the working directory, so running the quick start from another folder finds the
models already trained rather than silently training them again:
1. the `MECHREFUSAL_ARTIFACTS` environment variable, if set;
2. `artifacts/` in the source checkout, when the package is imported from one (the usual
   `pip install -e .` set-up);
3. `~/.cache/mechrefusal` otherwise (an installed wheel has no checkout).
"""

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
"""The `mechrefusal` package directory."""
CHECKOUT = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "pyproject.toml").exists() else None
"""The source checkout holding the package (experiments/, figures/), or None for a wheel."""
ARTIFACTS_ENV = "MECHREFUSAL_ARTIFACTS"


def default_artifacts() -> Path:
    """The artifact store used when none is named (see the module docstring for the order)."""
    if os.environ.get(ARTIFACTS_ENV):
        return Path(os.environ[ARTIFACTS_ENV]).expanduser().resolve()
    if CHECKOUT is not None:
        return CHECKOUT / "artifacts"
    return Path.home() / ".cache" / "mechrefusal"


def experiments_dir() -> Path:
    """The numbered figure scripts; they ship with the checkout, not with the package."""
    if CHECKOUT is None or not (CHECKOUT / "experiments").is_dir():
        raise FileNotFoundError(
            "The experiment scripts live in the mechrefusal source checkout (experiments/); "
            "install from a clone with `pip install -e .` to run figures."
        )
    return CHECKOUT / "experiments"
