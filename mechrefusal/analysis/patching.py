"""Activation and attribution patching between matched harmful / benign prompts (docs/method.md, "Other analyses").

Pairs come from the generator's cues: a harmful prompt and its twin whose harmful cue is
swapped for a benign one of the same token length, so positions correspond. The metric is the
logit difference between the category token and `[respond]` at the answer position; patched
values are normalised so 0 = the corrupted run and 1 = the clean run.

`patch_grid` is the one generic routine (site x layer x position, one forward per layer: the
batch holds one copy of the corrupted prompt per position, each patched at its own position);
`patch_resid_pre`, `patch_attn_out` and `patch_mlp_out` are named specialisations.
`attribution_grid` is the gradient approximation (one forward + one backward).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch

from mechrefusal._typing import Float, Int, Tensor
from mechrefusal.categories import token_ids
from mechrefusal.data.chat import format_prompt
from mechrefusal.data.lexicon import BENIGN_CUES, BENIGN_MARKERS, HARM_MARKERS, HARMFUL_CUES
from mechrefusal.data.prompts import Prompt
from mechrefusal.engine.hooks import Site, hook_name

PATCH_SITES: tuple[Site, ...] = ("resid_pre", "attn_out", "mlp_out")


@dataclass(frozen=True)
class PromptPair:
    """A harmful prompt and its benign twin, tokenised to the same length."""

    category: str
    clean: str
    corrupt: str
    clean_tokens: Int[Tensor, " pos"]
    corrupt_tokens: Int[Tensor, " pos"]


def _encode(tokenizer, text: str) -> Tensor:
    return torch.tensor(tokenizer.encode(format_prompt(tokenizer, text), add_special_tokens=False))


def twin_of(prompt: Prompt, tokenizer) -> PromptPair | None:
    """Swap the prompt's harmful cue for a benign cue of equal token length (None if impossible)."""
    if prompt.category is None:
        return None
    swaps = (
        [(HARM_MARKERS, BENIGN_MARKERS)]
        if prompt.category == "safety"
        else [(HARMFUL_CUES[prompt.category], BENIGN_CUES[prompt.category])]
    )  # type: ignore[index]
    clean_tokens = _encode(tokenizer, prompt.prompt)
    for harmful_cues, benign_cues in swaps:
        for cue in harmful_cues:
            if cue not in prompt.prompt:
                continue
            for replacement in benign_cues:
                twin = prompt.prompt.replace(cue, replacement)
                twin_tokens = _encode(tokenizer, twin)
                if len(twin_tokens) == len(clean_tokens):
                    return PromptPair(
                        category=prompt.category,
                        clean=prompt.prompt,
                        corrupt=twin,
                        clean_tokens=clean_tokens,
                        corrupt_tokens=twin_tokens,
                    )
    return None


def contrast_match(prompt: Prompt, contrasts: Sequence[Prompt], tokenizer) -> PromptPair | None:
    """The first contrast prompt of the same category and the same token length (any prompt
    set: positions align by index, not by meaning, so the grid reads by position from the end)."""
    clean_tokens = _encode(tokenizer, prompt.prompt)
    for other in contrasts:
        if other.category != prompt.category:
            continue
        other_tokens = _encode(tokenizer, other.prompt)
        if len(other_tokens) == len(clean_tokens):
            return PromptPair(
                category=prompt.category or "",
                clean=prompt.prompt,
                corrupt=other.prompt,
                clean_tokens=clean_tokens,
                corrupt_tokens=other_tokens,
            )
    return None


def matched_pairs(prompts: Sequence[Prompt], tokenizer, *, per_category: int) -> list[PromptPair]:
    """Up to `per_category` aligned pairs per harmful category, in prompt order: the cue-swapped
    twin where the prompt carries a generator cue, else a same-length contrast prompt."""
    out: list[PromptPair] = []
    counts: dict[str, int] = {}
    contrasts = [p for p in prompts if p.kind == "contrast"]
    for p in prompts:
        if p.kind != "harmful" or counts.get(p.category or "", 0) >= per_category:
            continue
        pair = twin_of(p, tokenizer) or contrast_match(p, contrasts, tokenizer)
        if pair is not None:
            out.append(pair)
            counts[pair.category] = counts.get(pair.category, 0) + 1
    if not out:
        raise ValueError(
            "No aligned harmful/benign pairs could be built: patching needs harmful prompts "
            "with a category and, for each, a contrast prompt of the same category and the "
            "same token length (or a generator cue to swap)."
        )
    return out


def logit_diff_metric(
    logits: Float[Tensor, "batch pos d_vocab"], *, category_id: int, respond_id: int
) -> Float[Tensor, " batch"]:
    """Category-token logit minus `[respond]` logit at the last (answer) position."""
    return logits[:, -1, category_id] - logits[:, -1, respond_id]


def _patch_one_position_per_row_hook(activation, hook, *, clean: Tensor):
    """Row i of the batch gets the clean activation at position i."""
    rows = torch.arange(activation.shape[0], device=activation.device)
    activation[rows, rows] = clean.to(activation.device, activation.dtype)[rows]
    return activation


@torch.no_grad()
def patch_grid(
    model,
    clean_tokens: Int[Tensor, " clean_pos"],
    corrupt_tokens: Int[Tensor, " corrupt_pos"],
    *,
    site: Site,
    metric: Callable[[Tensor], Tensor],
) -> Float[Tensor, "layer clean_pos"]:
    """Metric of the corrupted run with one (layer, position) of `site` taken from the clean run."""
    if clean_tokens.shape != corrupt_tokens.shape:
        raise ValueError(
            f"Clean and corrupted prompts must have the same length ({clean_tokens.shape} vs {corrupt_tokens.shape})."
        )
    names = [hook_name(site, layer) for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(clean_tokens[None], names_filter=names)
    n_pos = clean_tokens.shape[0]
    batch = corrupt_tokens[None].repeat(n_pos, 1)
    grid = torch.zeros(model.cfg.n_layers, n_pos)
    for layer, name in enumerate(names):
        hook = partial(_patch_one_position_per_row_hook, clean=cache[name][0])
        grid[layer] = metric(model.run_with_hooks(batch, fwd_hooks=[(name, hook)])).float().cpu()
    return grid


def patch_resid_pre(model, clean_tokens, corrupt_tokens, *, metric) -> Float[Tensor, "layer pos"]:
    """Patch the residual stream entering each block."""
    return patch_grid(model, clean_tokens, corrupt_tokens, site="resid_pre", metric=metric)


def patch_attn_out(model, clean_tokens, corrupt_tokens, *, metric) -> Float[Tensor, "layer pos"]:
    """Patch each block's attention output."""
    return patch_grid(model, clean_tokens, corrupt_tokens, site="attn_out", metric=metric)


def patch_mlp_out(model, clean_tokens, corrupt_tokens, *, metric) -> Float[Tensor, "layer pos"]:
    """Patch each block's MLP output."""
    return patch_grid(model, clean_tokens, corrupt_tokens, site="mlp_out", metric=metric)


def attribution_grid(
    model,
    clean_tokens: Int[Tensor, " pos"],
    corrupt_tokens: Int[Tensor, " pos"],
    *,
    site: Site,
    metric: Callable[[Tensor], Tensor],
) -> Float[Tensor, "layer pos"]:
    """First-order estimate of `patch_grid`: (clean - corrupt) . d metric / d activation, at the corrupted run."""
    names = [hook_name(site, layer) for layer in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, clean_cache = model.run_with_cache(clean_tokens[None], names_filter=names)
    saved: dict[str, Tensor] = {}

    def keep(activation, hook):
        activation.retain_grad()
        saved[hook.name] = activation
        return activation

    with torch.enable_grad():
        logits = model.run_with_hooks(corrupt_tokens[None], fwd_hooks=[(n, keep) for n in names])
        corrupt_metric = metric(logits)[0]
        corrupt_metric.backward()
    grid = torch.stack(
        [((clean_cache[n][0] - saved[n][0].detach()) * saved[n].grad[0]).sum(-1) for n in names]
    )
    model.zero_grad(set_to_none=True)
    return grid.float().cpu() + float(corrupt_metric.detach())


@dataclass(frozen=True)
class PatchingResult:
    """Normalised patching grids averaged over pairs (positions aligned from the end)."""

    sites: list[str]
    exact: dict[str, list[list[float]]]
    """site -> [layer][position], 0 = corrupted run, 1 = clean run."""
    attribution: dict[str, list[list[float]]]
    per_category: dict[str, dict[str, list[list[float]]]]
    """category -> site -> exact grid."""
    positions: list[str]
    """Labels of the aligned positions (the last tokens of the chat-formatted prompt)."""
    correlation: dict[str, float]
    """Pearson correlation of attribution vs exact, per site (over all pairs' cells)."""
    n_pairs: int
    pairs: list[dict]

    def to_dict(self) -> dict:
        return vars(self)


def _normalise(grid: Tensor, clean: float, corrupt: float) -> Tensor:
    return (grid - corrupt) / (clean - corrupt)


def _pearson(a: Tensor, b: Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    a, b = a - a.mean(), b - b.mean()
    return float((a @ b) / (a.norm() * b.norm()).clamp_min(1e-12))


def run_patching(
    model,
    pairs: Sequence[PromptPair],
    *,
    sites: Sequence[Site] = PATCH_SITES,
    min_gap: float = 1.0,
    progress: bool = True,
) -> PatchingResult:
    """Exact and attribution patching for every pair whose clean/corrupt metric gap is at least `min_gap`."""
    from mechrefusal._progress import tqdm

    ids = token_ids(model.tokenizer)
    kept, grids, attrs = [], [], []
    for pair in tqdm(pairs, desc="patching", disable=not progress, leave=False):
        cat_id = ids[pair.category]
        metric = partial(logit_diff_metric, category_id=cat_id, respond_id=ids["respond"])
        with torch.no_grad():
            clean = float(metric(model(pair.clean_tokens[None]))[0])
            corrupt = float(metric(model(pair.corrupt_tokens[None]))[0])
        if abs(clean - corrupt) < min_gap:
            continue
        kept.append((pair, clean, corrupt))
        grids.append(
            {
                s: _normalise(
                    patch_grid(
                        model, pair.clean_tokens, pair.corrupt_tokens, site=s, metric=metric
                    ),
                    clean,
                    corrupt,
                )
                for s in sites
            }
        )
        attrs.append(
            {
                s: _normalise(
                    attribution_grid(
                        model, pair.clean_tokens, pair.corrupt_tokens, site=s, metric=metric
                    ),
                    clean,
                    corrupt,
                )
                for s in sites
            }
        )
    if not kept:
        raise ValueError(
            f"No pair separates clean from corrupted by at least {min_gap} logits; nothing to patch."
        )
    width = min(g[sites[0]].shape[1] for g in grids)
    tail = lambda grid: grid[:, -width:]  # noqa: E731
    exact = {s: torch.stack([tail(g[s]) for g in grids]) for s in sites}
    attribution = {s: torch.stack([tail(a[s]) for a in attrs]) for s in sites}
    per_category = {}
    for c in dict.fromkeys(p.category for p, _, _ in kept):
        idx = [i for i, (p, _, _) in enumerate(kept) if p.category == c]
        per_category[c] = {s: exact[s][idx].mean(0).tolist() for s in sites}
    last = kept[0][0].clean_tokens[-width:].tolist()
    return PatchingResult(
        sites=list(sites),
        exact={s: exact[s].mean(0).tolist() for s in sites},
        attribution={s: attribution[s].mean(0).tolist() for s in sites},
        per_category=per_category,
        positions=[model.tokenizer.decode([t]) for t in last],
        correlation={s: _pearson(attribution[s], exact[s]) for s in sites},
        n_pairs=len(kept),
        pairs=[
            {
                "category": p.category,
                "clean": p.clean,
                "corrupt": p.corrupt,
                "clean_metric": c,
                "corrupt_metric": k,
            }
            for p, c, k in kept
        ],
    )
