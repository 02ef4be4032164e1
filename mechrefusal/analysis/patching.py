"""Activation and attribution patching between matched harmful / benign prompts (docs/method.md, "Other analyses").

On the organism, pairs come from the generator's cues: a harmful prompt and its twin whose
harmful cue is swapped for a benign one of the same token length, so positions correspond. Real
prompts carry no cues, so `written_pairs` builds minimal pairs from `data.minimal_pairs`: one
fill-in swapped inside a frame written for the figure (harmful vs look-alike, or one category
vs another). The metric is the logit difference between the clean prompt's category token and
the corrupted prompt's answer token (`[respond]`, or the other category's token) at the answer
position; patched values are normalised so 0 = the corrupted run and 1 = the clean run.

Positions before the first token where the two prompts differ hold identical activations in
both runs (the model is causal), so patching them cannot move the metric: `patch_grid` runs
only the positions from the first difference on and gives the others the corrupted value
exactly. On a chat-formatted real prompt that skips most of the template.

`patch_grid` is the one generic routine (site x layer x position, one forward per layer: the
batch holds one copy of the corrupted prompt per position, each patched at its own position);
`patch_resid_pre`, `patch_attn_out` and `patch_mlp_out` are named specialisations.
`attribution_grid` is the gradient approximation (one forward + one backward).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch
from transformer_lens import TransformerLensKeyValueCache as _KVCache

from mechrefusal._typing import Float, Int, Tensor
from mechrefusal.categories import token_ids
from mechrefusal.data.chat import format_prompt
from mechrefusal.data.lexicon import BENIGN_CUES, BENIGN_MARKERS, HARM_MARKERS, HARMFUL_CUES
from mechrefusal.data.minimal_pairs import PAIR_FRAMES, PairFrame
from mechrefusal.data.prompts import Prompt
from mechrefusal.engine.hooks import Site, hook_name

PATCH_SITES: tuple[Site, ...] = ("resid_pre", "attn_out", "mlp_out")


@dataclass(frozen=True)
class PromptPair:
    """A harmful prompt and its twin (benign, or of another category), tokenised to the same length."""

    category: str
    clean: str
    corrupt: str
    clean_tokens: Int[Tensor, " pos"]
    corrupt_tokens: Int[Tensor, " pos"]
    corrupt_category: str = "respond"
    """The answer token the corrupted prompt should get: `respond`, or another category."""


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


def _pair_from_frame(
    frame: PairFrame, harmful: str, tokenizer, used: set[str]
) -> PromptPair | None:
    """The first swap of equal token length, preferring fill-ins no earlier pair used."""
    clean = frame.frame.format(x=harmful)
    clean_tokens = _encode(tokenizer, clean)
    for swapped in sorted(frame.swapped, key=lambda s: s in used):
        if swapped == harmful:
            continue
        corrupt = frame.frame.format(x=swapped)
        corrupt_tokens = _encode(tokenizer, corrupt)
        if len(corrupt_tokens) == len(clean_tokens):
            used.add(swapped)
            return PromptPair(
                category=frame.category,
                clean=clean,
                corrupt=corrupt,
                clean_tokens=clean_tokens,
                corrupt_tokens=corrupt_tokens,
                corrupt_category=frame.other or "respond",
            )
    return None


def written_pairs(
    tokenizer, *, per_frame: int, frames: Sequence[PairFrame] = PAIR_FRAMES
) -> list[PromptPair]:
    """Up to `per_frame` minimal pairs per written frame whose two prompts tokenise to the
    same length under `tokenizer` (real models: their prompts carry no generator cues)."""
    out: list[PromptPair] = []
    for frame in frames:
        used: set[str] = set()
        made = [_pair_from_frame(frame, h, tokenizer, used) for h in frame.harmful]
        out += [p for p in made if p is not None][:per_frame]
    if not out:
        raise ValueError(
            "No written minimal pair tokenises to equal lengths under this tokenizer: add "
            "fill-ins to data/minimal_pairs.py or pass prompts with generator cues."
        )
    return out


def logit_diff_metric(
    logits: Float[Tensor, "batch pos d_vocab"], *, category_id: int, respond_id: int
) -> Float[Tensor, " batch"]:
    """Clean answer-token logit minus corrupted answer-token logit (`respond_id`: `[respond]`,
    or the other category's token) at the last (answer) position."""
    return logits[:, -1, category_id] - logits[:, -1, respond_id]


def _patch_one_position_per_row_hook(activation, hook, *, clean: Tensor):
    """Row i of the batch gets the clean activation at position i."""
    rows = torch.arange(activation.shape[0], device=activation.device)
    activation[rows, rows] = clean.to(activation.device, activation.dtype)[rows]
    return activation


def last_position_logits(
    model,
    resid: Float[Tensor, "batch pos d_model"],
    *,
    start_at_layer: int,
    fwd_hooks=(),
    past_kv_cache: _KVCache | None = None,
) -> Float[Tensor, "batch 1 d_vocab"]:
    """Logits at the last position only, from a residual stream entering `start_at_layer`:
    the blocks below a patch are the corrupted run's (cached once), and the metric reads one
    position, so neither is recomputed per cell (on SmolLM2 the unembedding alone is a third
    of a forward)."""
    n_layers = model.cfg.n_layers
    with model.hooks(fwd_hooks=list(fwd_hooks)):
        out = model(
            resid,
            start_at_layer=start_at_layer,
            stop_at_layer=n_layers,
            past_kv_cache=past_kv_cache,
        )
    last = out[:, -1:]
    if model.cfg.normalization_type is not None:
        last = model.ln_final(last)
    return model.unembed(last)


def _prefix_cache(model, prefix: Int[Tensor, " prefix"], batch: int) -> _KVCache:
    """Frozen keys and values of every block over the tokens both prompts share: patching at a
    later position cannot change them (the model is causal), so each row runs its tail only."""
    cache = _KVCache.init_cache(model.cfg, prefix.device, 1)
    model(prefix[None], stop_at_layer=model.cfg.n_layers, past_kv_cache=cache)
    for entry in cache.entries:
        entry.past_keys = entry.past_keys.expand(batch, -1, -1, -1)
        entry.past_values = entry.past_values.expand(batch, -1, -1, -1)
    cache.previous_attention_mask = cache.previous_attention_mask.expand(batch, -1)
    cache.freeze()
    return cache


@torch.no_grad()
def patch_grid(
    model,
    clean_tokens: Int[Tensor, " clean_pos"],
    corrupt_tokens: Int[Tensor, " corrupt_pos"],
    *,
    site: Site,
    metric: Callable[[Tensor], Tensor],
    skip_shared_prefix: bool = True,
) -> Float[Tensor, "layer clean_pos"]:
    """Metric of the corrupted run with one (layer, position) of `site` taken from the clean run.

    Each layer's rows start from the corrupted run's residual entering that layer and read the
    last position's logits (`last_position_logits`; tested equal to TransformerLens's own
    patching). `skip_shared_prefix` (default) runs only the positions from the first token
    where the prompts differ, against a KV cache of the shared tokens; earlier cells get the
    corrupted run's metric, which is what patching an identical activation gives (tested
    against the full grid)."""
    if clean_tokens.shape != corrupt_tokens.shape:
        raise ValueError(
            f"Clean and corrupted prompts must have the same length ({clean_tokens.shape} vs {corrupt_tokens.shape})."
        )
    n_layers = model.cfg.n_layers
    names = [hook_name(site, layer) for layer in range(n_layers)]
    entering = [hook_name("resid_pre", layer) for layer in range(n_layers)]
    _, cache = model.run_with_cache(clean_tokens[None], names_filter=names)
    logits, corrupt = model.run_with_cache(corrupt_tokens[None], names_filter=entering)
    n_pos = clean_tokens.shape[0]
    start = first_difference(clean_tokens, corrupt_tokens) if skip_shared_prefix else 0
    start = min(start, n_pos - 1)  # identical prompts: still patch the last position
    rows = n_pos - start
    shared = _prefix_cache(model, corrupt_tokens[:start], rows) if start else None
    grid = torch.zeros(n_layers, n_pos)
    grid[:, :start] = float(metric(logits)[0])
    for layer, name in enumerate(names):
        # Row i patches tail position i (the tail is the whole prompt when nothing is shared).
        hook = partial(_patch_one_position_per_row_hook, clean=cache[name][0, start:])
        resid = corrupt[entering[layer]][:, start:].expand(rows, -1, -1).clone()
        out = last_position_logits(
            model, resid, start_at_layer=layer, fwd_hooks=[(name, hook)], past_kv_cache=shared
        )
        grid[layer, start:] = metric(out).float().cpu()
    return grid


def first_difference(a: Int[Tensor, " pos"], b: Int[Tensor, " pos"]) -> int:
    """Index of the first position where two equal-length token rows differ (len if none)."""
    differ = (a != b).nonzero()
    return int(differ[0, 0]) if len(differ) else int(a.shape[0])


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
    """group (`pair_group`) -> site -> exact grid."""
    positions: list[str]
    """Labels of the aligned positions (the last tokens of the chat-formatted prompt)."""
    correlation: dict[str, float]
    """Pearson correlation of attribution vs exact, per site (over all pairs' cells)."""
    n_pairs: int
    pairs: list[dict]

    def to_dict(self) -> dict:
        return vars(self)


def pair_group(pair: PromptPair) -> str:
    """The category for a harmful / look-alike pair, "a vs b" for a cross-category pair."""
    if pair.corrupt_category == "respond":
        return pair.category
    return f"{pair.category} vs {pair.corrupt_category}"


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
        metric = partial(
            logit_diff_metric,
            category_id=ids[pair.category],
            respond_id=ids[pair.corrupt_category],
        )
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
    for c in dict.fromkeys(pair_group(p) for p, _, _ in kept):
        idx = [i for i, (p, _, _) in enumerate(kept) if pair_group(p) == c]
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
                "corrupt_category": p.corrupt_category,
                "clean_metric": c,
                "corrupt_metric": k,
            }
            for p, c, k in kept
        ],
    )
