"""Canonical TransformerLens hook names, validated against the model before anything runs.

Everything is addressed by TL's full dotted names (`blocks.9.hook_resid_post`), made here by
one helper. A wrong name raises with the closest valid names instead of silently matching no
hook (docs/method.md, "Differences from the original code"; SAELens's "skip and warn" is the counter-example).
"""

import difflib
import re
from typing import Literal, get_args

Site = Literal["resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"]
SITES: tuple[Site, ...] = get_args(Site)
_LAYER = re.compile(r"^blocks\.(\d+)\.")


def validate_layer(model, layer: int) -> int:
    """Return `layer` (negative counts from the end) if the model has it, else raise."""
    n = model.cfg.n_layers
    if not -n <= layer < n:
        raise ValueError(f"Layer {layer} is out of range: the model has {n} layers (0..{n - 1}).")
    return layer % n


def hook_name(site: Site, layer: int) -> str:
    """Full TL hook name for a residual-stream site at a layer."""
    if site not in SITES:
        raise ValueError(f"Unknown site {site!r}; valid: {', '.join(SITES)}.")
    return f"blocks.{layer}.hook_{site}"


def validate_hook(model, name: str) -> str:
    """Raise a helpful error if `name` is not one of the model's hook points."""
    if name in model.hook_dict:
        return name
    close = difflib.get_close_matches(name, list(model.hook_dict), n=3, cutoff=0.5)
    hint = f" Closest valid names: {', '.join(close)}." if close else ""
    raise ValueError(f"Unknown hook {name!r} for this model ({model.cfg.n_layers} layers).{hint}")


def layer_of(name: str) -> int | None:
    """The block index a hook belongs to, or None for hooks outside the blocks."""
    match = _LAYER.match(name)
    return int(match.group(1)) if match else None


def resid_resume_layer(name: str) -> int | None:
    """The block a forward resumes at from the residual stream at `name`: L + 1 after
    `blocks.L.hook_resid_post`, L at `blocks.L.hook_resid_pre`; None for any other hook."""
    layer = layer_of(name)
    if layer is None:
        return None
    if name.endswith(".hook_resid_post"):
        return layer + 1
    return layer if name.endswith(".hook_resid_pre") else None


def has_active_hooks(model) -> bool:
    """Whether any forward hook is attached (an intervention: cached clean activations would lie)."""
    return any(point.fwd_hooks for point in model.hook_dict.values())


def stop_layer_for(names: list[str]) -> int | None:
    """The `stop_at_layer` that still runs every hook in `names` (None: run the whole model)."""
    layers = [layer_of(n) for n in names]
    if any(layer is None for layer in layers):
        return None
    return max(layers) + 1  # type: ignore[type-var]


def resolve_hook(
    model, *, layer: int | None = None, site: Site = "resid_post", hook: str | None = None
) -> tuple[str, int]:
    """Pick a hook by explicit name or by (site, layer); returns (name, layer)."""
    if hook is not None:
        validate_hook(model, hook)
        found = layer_of(hook)
        return hook, found if found is not None else -1
    if layer is None:
        raise ValueError("Give either a hook name or a layer.")
    layer = validate_layer(model, layer)
    return validate_hook(model, hook_name(site, layer)), layer
