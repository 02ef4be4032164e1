"""mechrefusal: mechanistic analysis and control of categorical refusal (refusal-token models).

The public API re-exported here covers the usual workflow: load a model, pick prompt splits,
compute category directions, fit the steering router, steer, evaluate, and look at single
answers. The subpackages hold the rest (docs/method.md, "Code layout").

Names are imported on first use (PEP 562): `import mechrefusal` and `mechrefusal --help` then
cost no torch or TransformerLens import (about 8 s on 2 cores), and a command that refuses its
input says so before loading them.
"""

import importlib

from mechrefusal._paths import default_artifacts as default_artifacts
from mechrefusal._progress import set_progress as set_progress
from mechrefusal._version import __version__ as __version__

_PUBLIC = {
    "analysis.activations": ("cache_activations",),
    "analysis.diffing": ("diff_models",),
    "analysis.directions": (
        "DirectionSet",
        "compute_directions",
        "cosine_matrix",
        "diff_in_means",
        "sparsify",
    ),
    "analysis.interventions": ("ablated_directions", "added_vectors", "orthogonalized_copy"),
    "categories": ("CATEGORIES", "REFUSAL_TOKENS", "RESPOND_TOKEN", "Category", "parse_category"),
    "data.prompts": ("Prompt", "choice_split", "generate_prompts", "load_jsonl", "select"),
    "engine.hooks": ("hook_name",),
    "models.loading": ("LoadedModel", "load_model"),
    "reporting.experiment": ("steering_layer",),
    "scoring.evaluation": ("ScoredAnswer", "answer_prompts", "evaluate", "summarize"),
    "steering.comparison": ("run_method",),
    "steering.methods": ("Categorical",),
    "steering.presets": ("PAPER", "steering_preset"),
    "steering.preview": ("SteeringPreview", "preview_steering"),
    "steering.router": ("Router", "SteeringConfig", "fit_router", "steered_generate"),
    "store.artifacts": ("ArtifactError", "ModelFingerprint"),
}
"""Submodule (under `mechrefusal.`) -> the public names it defines."""
_HOME = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = sorted(["__version__", "default_artifacts", "set_progress", *_HOME])


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'mechrefusal' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"mechrefusal.{_HOME[name]}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
