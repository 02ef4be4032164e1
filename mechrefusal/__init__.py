"""mechrefusal: mechanistic analysis and control of categorical refusal (refusal-token models).

The public API re-exported here covers the usual workflow: load a model, pick prompt splits,
compute category directions, fit the steering router, steer, evaluate.
"""

from mechrefusal._version import __version__
from mechrefusal.activations import cache_activations
from mechrefusal.artifacts import ArtifactError, ModelFingerprint
from mechrefusal.categories import (
    CATEGORIES,
    REFUSAL_TOKENS,
    RESPOND_TOKEN,
    Category,
    parse_category,
)
from mechrefusal.diffing import diff_models
from mechrefusal.directions import (
    DirectionSet,
    compute_directions,
    cosine_matrix,
    diff_in_means,
    sparsify,
)
from mechrefusal.evaluation import evaluate
from mechrefusal.hooks import hook_name
from mechrefusal.interventions import ablated_directions, added_vectors, orthogonalized_copy
from mechrefusal.models import LoadedModel, load_model
from mechrefusal.prompts import Prompt, generate_prompts, load_jsonl, select
from mechrefusal.steering import Router, SteeringConfig, fit_router, steered_generate

__all__ = [
    "CATEGORIES",
    "REFUSAL_TOKENS",
    "RESPOND_TOKEN",
    "ArtifactError",
    "Category",
    "DirectionSet",
    "LoadedModel",
    "ModelFingerprint",
    "Prompt",
    "Router",
    "SteeringConfig",
    "__version__",
    "ablated_directions",
    "added_vectors",
    "cache_activations",
    "compute_directions",
    "cosine_matrix",
    "diff_in_means",
    "diff_models",
    "evaluate",
    "fit_router",
    "generate_prompts",
    "hook_name",
    "load_jsonl",
    "load_model",
    "orthogonalized_copy",
    "parse_category",
    "select",
    "sparsify",
    "steered_generate",
]
