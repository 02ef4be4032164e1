"""Real-model speed: SmolLM2 refusal-token fine-tune, mechrefusal vs plain Hugging Face, one run.

1. caching one layer's residual stream for a batch of prompts (`cache_activations`, no disk
   cache) vs the HF model's forward truncated after that layer (the least work that yields the
   same activations);
2. batched probe-routed steered generation (`steered_generate`, 12 tokens, KV cache) vs HF
   `generate` unsteered on the same batch (greedy, 12 tokens). Target: <= 0.9x in every run;
3. a figure's sweeps (three methods at three strengths, first answer token) each in its own
   `reused_prefix` vs all inside one, as figures 07, 08, 13, 14 and 15 run them: how much the
   figure-wide memo saves when every sweep reads the same batches;
4. what each CPU speed-up buys on its own, the other left on: the chat header run once per
   batch (`shared_prefix`) off vs on, for caching and for steered generation; TransformerLens's
   own grouped-query attention (K and V repeated to every query head) vs `grouped_attention`,
   for steered generation; rows that have stopped kept in the decoding batch vs dropped
   (`greedy_generate(drop_finished=...)`), and TL's per-forward re-laying of the attention
   weights vs `transposed.attention_weights_in_product_layout`, for steered generation;
   batches cut from the length order (`chat.length_order`) vs in prompt order, for
   first-token scoring of direction-split prompts.
Both models hold the same weights (the fine-tune's checkpoint). 1 and 2 are measured `--runs`
times (3 by default: one ratio on a shared machine is not a result); the rest once. Merges its
numbers into benchmarks/results.json ("real_model"); run it alone (other processes skew the
timings).
"""

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

import torch
from transformer_lens.components import GroupedQueryAttention

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import merge_results, timed  # noqa: E402
from mechrefusal.analysis.activations import cache_activations  # noqa: E402
from mechrefusal.data.chat import stop_token_ids, tokenize_prompts  # noqa: E402
from mechrefusal.data.prompts import select  # noqa: E402
from mechrefusal.engine import generation, shared_prefix  # noqa: E402
from mechrefusal.engine.generation import reused_prefix  # noqa: E402
from mechrefusal.engine.hooks import hook_name  # noqa: E402
from mechrefusal.models.finetune import decoder_slice  # noqa: E402
from mechrefusal.models.loading import load_model  # noqa: E402
from mechrefusal.models.smollm2 import refusal_dir  # noqa: E402
from mechrefusal.scoring import evaluation  # noqa: E402
from mechrefusal.steering.methods import Categorical, GlobalDirection, RandomControl  # noqa: E402
from mechrefusal.steering.router import SteeringConfig, fit_router, steered_generate  # noqa: E402
from mechrefusal.steering.sweeps import sweep_method  # noqa: E402

NEW_TOKENS = 12
SWEEP_STRENGTHS = (0.0, -0.5, -1.0)


def figure_sweeps(model, router, prompts, *, shared: bool, batch_size: int) -> list:
    """Three methods swept on the same prompts, each sweep with its own memo or all in one."""
    methods = (Categorical(), GlobalDirection(), RandomControl())

    def sweep(method):
        return sweep_method(model, router, prompts, method, SWEEP_STRENGTHS, batch_size=batch_size)

    if not shared:
        return [sweep(m) for m in methods]
    with reused_prefix(model):
        return [sweep(m) for m in methods]


@contextmanager
def prefix_not_shared():
    """Every forward runs each row's whole prompt, as before `shared_prefix`."""
    saved = shared_prefix.MIN_SHARED_PREFIX
    shared_prefix.MIN_SHARED_PREFIX = sys.maxsize
    try:
        yield
    finally:
        shared_prefix.MIN_SHARED_PREFIX = saved


@contextmanager
def finished_rows_kept():
    """Rows that have stopped stay in the decoding batch until the last one stops, as in HF
    `generate` (`greedy_generate(drop_finished=False)`)."""
    saved = generation.greedy_generate
    generation.greedy_generate = lambda *a, **kw: saved(*a, **{**kw, "drop_finished": False})
    try:
        yield
    finally:
        generation.greedy_generate = saved


@contextmanager
def attention_weights_contiguous(model):
    """TL's own attention weight layout: every forward re-lays W_Q, W_K, W_V and W_O, undoing
    `attention_weights_in_product_layout` for the block."""
    params = [
        p
        for m in model.modules()
        if isinstance(m, GroupedQueryAttention)
        for name, p in m.named_parameters(recurse=False)
        if name in ("W_Q", "_W_K", "_W_V", "W_O")
    ]
    saved = [p.data for p in params]
    for p in params:
        p.data = p.data.contiguous()
    try:
        yield
    finally:
        for p, data in zip(params, saved, strict=True):
            p.data = data


@contextmanager
def batches_in_prompt_order():
    """Scoring batches cut from the prompts as given, as before `chat.length_order`."""
    saved = evaluation.length_order
    evaluation.length_order = lambda tokenizer, prompts, **_: list(range(len(prompts)))
    try:
        yield
    finally:
        evaluation.length_order = saved


@contextmanager
def repeated_kv_heads(model):
    """TransformerLens's own grouped-query attention, undoing `group_query_heads` for the block."""
    patched = [
        m
        for m in model.modules()
        if isinstance(m, GroupedQueryAttention) and "calculate_attention_scores" in vars(m)
    ]
    saved = [(m.calculate_attention_scores, m.calculate_z_scores) for m in patched]
    for m in patched:
        del m.calculate_attention_scores, m.calculate_z_scores
    try:
        yield
    finally:
        for m, (scores, z) in zip(patched, saved, strict=True):
            m.calculate_attention_scores, m.calculate_z_scores = scores, z


def hf_truncated(hf, layer: int):
    """The HF decoder with only its first `layer + 1` blocks (what caching that layer needs);
    a view sharing the weights, so `hf` itself keeps every block for `generate`."""
    return decoder_slice(hf.model, 0, layer + 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", default="artifacts")
    parser.add_argument("--layer", type=int, default=28)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3, help="runs of the two headline ratios")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    args = parser.parse_args()
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    loaded = load_model("smollm2", root=args.artifacts)
    model, tokenizer = loaded.model, loaded.tokenizer
    hf = AutoModelForCausalLM.from_pretrained(refusal_dir(args.artifacts), dtype=torch.float32)
    hf.eval()
    prompts = select(loaded.prompts, split="eval")[: args.batch]
    texts = [p.prompt for p in prompts]
    tokens, mask = tokenize_prompts(tokenizer, texts, n_ctx=model.cfg.n_ctx)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    hook = hook_name("resid_post", args.layer)
    short = hf_truncated(hf, args.layer)

    def cache():
        return cache_activations(
            model, texts, [hook], batch_size=args.batch, store=None, progress=False
        )

    direction = select(loaded.prompts, split="direction")[::4]
    router = fit_router(model, direction, layer=args.layer, progress=False)
    stop = sorted(stop_token_ids(tokenizer))

    def steer():
        return steered_generate(
            model,
            prompts,
            router,
            SteeringConfig(),
            batch_size=args.batch,
            max_new_tokens=NEW_TOKENS,
        )

    def hf_generate():
        return hf.generate(
            input_ids=tokens,
            attention_mask=mask,
            max_new_tokens=NEW_TOKENS,
            do_sample=False,
            eos_token_id=stop,
            pad_token_id=tokenizer.pad_token_id,
        )

    def headline() -> dict[str, float]:
        """The two headline timings, ours and HF's, measured back to back."""
        with torch.inference_mode():
            ours_cache = timed(cache, args.repeats)
            hf_cache = timed(
                lambda: short(input_ids=tokens, attention_mask=mask, position_ids=positions),
                args.repeats,
            )
            ours_gen = timed(steer, args.repeats)
            hf_gen = timed(hf_generate, args.repeats)
        return {
            "cache_one_layer_s": ours_cache,
            "hf_truncated_forward_s": hf_cache,
            "ratio_cache_vs_hf": ours_cache / hf_cache,
            "steered_generate_s": ours_gen,
            "hf_generate_unsteered_s": hf_gen,
            "ratio_steered_vs_hf_generate": ours_gen / hf_gen,
        }

    runs = [headline() for _ in range(args.runs)]
    first = runs[0]
    ours_cache, ours_gen = first["cache_one_layer_s"], first["steered_generate_s"]
    with finished_rows_kept():
        rows_kept_gen = timed(steer, args.repeats)
    with attention_weights_contiguous(model):
        relaid_gen = timed(steer, args.repeats)
    with prefix_not_shared():
        unshared_gen = timed(steer, args.repeats)
        with torch.inference_mode():
            unshared_cache = timed(cache, args.repeats)
    with repeated_kv_heads(model):
        repeated_gen = timed(steer, args.repeats)
    swept = [
        p
        for kind in ("harmful", "contrast")
        for p in select(loaded.prompts, split="eval", kind=kind)[: args.batch]
    ]
    sweeps = {
        shared: timed(
            lambda shared=shared: figure_sweeps(
                model, router, swept, shared=shared, batch_size=args.batch
            ),
            args.repeats,
        )
        for shared in (False, True)
    }
    scored = select(loaded.prompts, split="direction")[: 8 * args.batch]

    def score():
        return evaluation.refusal_logit_gap(model, scored, batch_size=args.batch)

    by_length = timed(score, args.repeats)
    with batches_in_prompt_order():
        in_prompt_order = timed(score, args.repeats)
    result = {
        "model": loaded.spec,
        "layer": args.layer,
        "batch": args.batch,
        "prompt_tokens": int(tokens.shape[1]),
        "new_tokens": NEW_TOKENS,
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        **first,
        "target_ratio_generate": 0.9,
        "runs": [
            {k: run[k] for k in ("ratio_cache_vs_hf", "ratio_steered_vs_hf_generate")}
            for run in runs
        ],
        "steered_generate_rows_kept_s": rows_kept_gen,
        "ratio_generate_rows_kept_vs_dropped": rows_kept_gen / ours_gen,
        "steered_generate_attention_relaid_s": relaid_gen,
        "ratio_generate_attention_relaid_vs_product_layout": relaid_gen / ours_gen,
        "sweep_prompts": len(swept),
        "sweeps_own_memo_s": sweeps[False],
        "sweeps_one_memo_s": sweeps[True],
        "ratio_own_vs_one_memo": sweeps[False] / sweeps[True],
        "cache_prefix_not_shared_s": unshared_cache,
        "ratio_cache_prefix_not_shared_vs_shared": unshared_cache / ours_cache,
        "steered_generate_prefix_not_shared_s": unshared_gen,
        "ratio_generate_prefix_not_shared_vs_shared": unshared_gen / ours_gen,
        "steered_generate_repeated_kv_s": repeated_gen,
        "ratio_generate_repeated_kv_vs_grouped": repeated_gen / ours_gen,
        "scored_prompts": len(scored),
        "score_by_length_s": by_length,
        "score_in_prompt_order_s": in_prompt_order,
        "ratio_score_prompt_order_vs_length_order": in_prompt_order / by_length,
    }
    print(json.dumps(result, indent=2))
    merge_results(args.out, {"real_model": result})


if __name__ == "__main__":
    main()
