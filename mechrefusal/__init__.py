"""mechrefusal: mechanistic analysis and control of categorical refusal (refusal-token models).

The public API re-exported here covers the usual workflow: load a model, pick prompt splits,
compute category directions, fit the steering router, steer, evaluate, and look at single
answers. The subpackages hold the rest (docs/method.md, "Code layout").
"""

from mechrefusal._paths import default_artifacts
from mechrefusal._progress import set_progress
from mechrefusal._version import __version__
from mechrefusal.analysis.activations import cache_activations
from mechrefusal.analysis.diffing import diff_models
from mechrefusal.analysis.directions import (
    DirectionSet,
    compute_directions,
    cosine_matrix,
    diff_in_means,
    sparsify,
)
from mechrefusal.analysis.interventions import (
    ablated_directions,
    added_vectors,
    orthogonalized_copy,
)
from mechrefusal.categories import (
    CATEGORIES,
    REFUSAL_TOKENS,
    RESPOND_TOKEN,
    Category,
    parse_category,
)
from mechrefusal.data.prompts import Prompt, choice_split, generate_prompts, load_jsonl, select
from mechrefusal.engine.hooks import hook_name
from mechrefusal.models.loading import LoadedModel, load_model
from mechrefusal.reporting.experiment import steering_layer
from mechrefusal.scoring.evaluation import ScoredAnswer, answer_prompts, evaluate, summarize
from mechrefusal.steering.comparison import run_method
from mechrefusal.steering.methods import Categorical
from mechrefusal.steering.presets import PAPER, steering_preset
from mechrefusal.steering.preview import SteeringPreview, preview_steering
from mechrefusal.steering.router import Router, SteeringConfig, fit_router, steered_generate
from mechrefusal.store.artifacts import ArtifactError, ModelFingerprint

__all__ = [
    "CATEGORIES",
    "Categorical",
    "REFUSAL_TOKENS",
    "RESPOND_TOKEN",
    "ArtifactError",
    "Category",
    "DirectionSet",
    "LoadedModel",
    "ModelFingerprint",
    "PAPER",
    "Prompt",
    "Router",
    "ScoredAnswer",
    "SteeringConfig",
    "SteeringPreview",
    "__version__",
    "ablated_directions",
    "answer_prompts",
    "added_vectors",
    "cache_activations",
    "choice_split",
    "compute_directions",
    "cosine_matrix",
    "default_artifacts",
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
    "preview_steering",
    "run_method",
    "select",
    "set_progress",
    "sparsify",
    "steered_generate",
    "steering_layer",
    "steering_preset",
    "summarize",
]
