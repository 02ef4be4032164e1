"""Speed benchmarks, reported as ratios measured in one run (never timed inside tests).

1. caching one layer's residual stream vs a bare forward pass truncated at that layer (target <= 1.10x),
   and vs an uncached-filter full `run_with_cache` (ratio reported);
2. batched probe-routed steered generation vs unsteered batched generation (target <= 1.15x);
3. batched steered generation vs one prompt at a time, per prompt (target >= 5x);
4. SAE encode throughput relative to the model's forward pass up to the SAE's layer.
Writes benchmarks/results.json and prints a table.
"""

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import merge_results, timed  # noqa: E402
from mechrefusal.analysis.activations import cache_activations  # noqa: E402
from mechrefusal.data.chat import tokenize_prompts  # noqa: E402
from mechrefusal.data.prompts import select  # noqa: E402
from mechrefusal.engine.generation import generate_answers  # noqa: E402
from mechrefusal.engine.hooks import hook_name  # noqa: E402
from mechrefusal.models.loading import load_model  # noqa: E402
from mechrefusal.steering.router import SteeringConfig, fit_router, steered_generate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="organism")
    parser.add_argument("--artifacts", default="artifacts")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    args = parser.parse_args()
    torch.manual_seed(0)
    loaded = load_model(args.model, root=args.artifacts)
    model = loaded.model
    prompts = select(loaded.prompts, split="eval")
    layer = model.cfg.n_layers // 2
    hook = hook_name("resid_post", layer)
    texts = [p.prompt for p in prompts[:256]]
    tokens, mask = tokenize_prompts(model.tokenizer, texts[:64], n_ctx=model.cfg.n_ctx)
    results: dict[str, dict] = {}

    with torch.inference_mode():
        bare = timed(
            lambda: model(tokens, attention_mask=mask, stop_at_layer=layer + 1), args.repeats
        )
        ours = timed(
            lambda: model.run_with_cache(
                tokens, attention_mask=mask, names_filter=[hook], stop_at_layer=layer + 1
            ),
            args.repeats,
        )
        full = timed(lambda: model.run_with_cache(tokens, attention_mask=mask), args.repeats)
    results["caching"] = {
        "bare_truncated_forward_s": bare,
        "cache_one_layer_s": ours,
        "full_run_with_cache_s": full,
        "ratio_vs_bare": ours / bare,
        "target_ratio_vs_bare": 1.10,
        "ratio_full_vs_ours": full / ours,
    }
    end_to_end = timed(
        lambda: cache_activations(model, texts[:64], [hook], batch_size=64, progress=False),
        args.repeats,
    )
    results["caching"]["cache_activations_end_to_end_s"] = end_to_end

    router = fit_router(
        model, select(loaded.prompts, split="direction"), layer=layer, progress=False
    )
    batch = prompts[:64]
    unsteered = timed(
        lambda: generate_answers(model, [p.prompt for p in batch], batch_size=64, progress=False),
        args.repeats,
    )
    steered = timed(
        lambda: steered_generate(model, batch, router, SteeringConfig(), batch_size=64),
        args.repeats,
    )
    one_by_one = (
        timed(
            lambda: steered_generate(model, batch[:16], router, SteeringConfig(), batch_size=1), 1
        )
        / 16
    )
    results["steering"] = {
        "unsteered_batched_s": unsteered,
        "steered_batched_s": steered,
        "ratio_steered_vs_unsteered": steered / unsteered,
        "target_ratio": 1.15,
        "per_prompt_batched_s": steered / len(batch),
        "per_prompt_one_by_one_s": one_by_one,
        "speedup_batched_vs_one_by_one": one_by_one / (steered / len(batch)),
        "target_speedup": 5.0,
    }

    from sae_lens import SAE
    from sae_lens.saes.topk_sae import TopKSAEConfig

    sae = SAE.from_dict(
        TopKSAEConfig(d_in=model.cfg.d_model, d_sae=8 * model.cfg.d_model, k=16).to_dict()
    )
    with torch.inference_mode():
        _, cache = model.run_with_cache(
            tokens, attention_mask=mask, names_filter=[hook], stop_at_layer=layer + 1
        )
        acts = cache[hook].reshape(-1, model.cfg.d_model)
        encode = timed(lambda: sae.encode(acts), args.repeats)
    results["sae_encode"] = {
        "tokens": acts.shape[0],
        "encode_s": encode,
        "tokens_per_s": acts.shape[0] / encode,
        "ratio_encode_vs_forward_to_layer": encode / bare,
    }
    results["setup"] = {
        "model": loaded.spec,
        "d_model": model.cfg.d_model,
        "n_layers": model.cfg.n_layers,
        "layer": layer,
        "batch": 64,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
    }
    merge_results(args.out, results)
    print(
        json.dumps(
            {
                k: {kk: round(vv, 3) if isinstance(vv, float) else vv for kk, vv in v.items()}
                for k, v in results.items()
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
