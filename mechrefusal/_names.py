"""Names the command line offers as choices, kept apart from the modules that act on them so
that `mechrefusal --help` and a mistyped option answer without importing torch."""

REGISTERED_MODELS = (
    "organism",
    "organism:<preset>",
    "organism-base:<preset>",
    "organism-control:<preset>",
    "smollm2",
    "smollm2-instruct",
)
"""Model names `models.loading.load_model` knows without a path or hub id."""
STEERING_PRESETS = ("tuned", "paper")
"""Named coefficients (`steering.presets.steering_preset`)."""
EXPORT_METHODS = ("false-refusal",)
"""Weight edits `mechrefusal export` writes (`cli.export`)."""
