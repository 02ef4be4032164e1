"""Training speed: what the padding and header savings of the two fine-tunes buy, one run.

1. organism training step (forward + backward of a batch of 64 refusal-token SFT examples of
   the default organism): the batch as one right-padded forward vs `organism.LENGTH_GROUPS`
   length-sorted groups (the gradient is the same; tested);
2. SmolLM2 fine-tune: the frozen blocks' states (`realtune.frozen_states`, every block below
   the trainable ones) with the shared chat header run once per batch vs in every row, and
   one training step (`_loss` + backward through the trainable blocks, at the fine-tune's
   batch size; both recorded) the same two ways. Examples are the training prompts with
   their label and the refusal text (no generated answers, so the benchmark needs no
   generation).
Merges its numbers into benchmarks/results.json ("training"); run it alone.
"""

import argparse
import json
import random
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import merge_results, timed  # noqa: E402
from mechrefusal.categories import REFUSAL_TOKENS  # noqa: E402
from mechrefusal.data.chat import pad_id  # noqa: E402
from mechrefusal.data.prompts import load_jsonl, select  # noqa: E402
from mechrefusal.data.templates import REFUSAL_TEXTS  # noqa: E402
from mechrefusal.models import finetune as realtune  # noqa: E402
from mechrefusal.models import organism  # noqa: E402
from mechrefusal.models.loading import load_model  # noqa: E402
from mechrefusal.models.smollm2 import ensure_smollm2_refusal  # noqa: E402


def organism_steps(artifacts: str, repeats: int) -> dict:
    loaded = load_model("organism", root=artifacts)
    model, tok = loaded.model, loaded.tokenizer
    cfg = organism.DEFAULT
    train = select(loaded.prompts, split="train")
    examples = organism._sft_examples(train, tok, cfg.over_refusal_fraction)
    rng = random.Random(0)
    batches = [rng.sample(examples, cfg.batch_size) for _ in range(8)]

    def steps(groups: int):
        def run():
            for batch in batches:
                model.zero_grad(set_to_none=True)
                organism._batch_loss_backward(model, batch, tok.pad_token_id, groups=groups)

        return run

    model.train()
    times = {
        groups: timed(steps(groups), repeats) / len(batches)
        for groups in sorted({1, 2, 4, organism.LENGTH_GROUPS})
    }
    model.eval()
    widths = [max(len(ids) for ids, _ in b) for b in batches]
    real = sum(len(ids) for b in batches for ids, _ in b)
    return {
        "batch": cfg.batch_size,
        "batches": len(batches),
        "padding_share_one_batch": 1 - real / sum(w * cfg.batch_size for w in widths),
        "step_one_batch_s": times[1],
        "step_length_groups_s": times[organism.LENGTH_GROUPS],
        "step_by_groups_s": {str(k): v for k, v in times.items()},
        "ratio_one_batch_vs_groups": times[1] / times[organism.LENGTH_GROUPS],
        "length_groups": organism.LENGTH_GROUPS,
    }


def smollm2_fine_tune(artifacts: str, repeats: int) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    checkpoint = ensure_smollm2_refusal(artifacts)  # trains and caches the fine-tune if missing
    prompts = select(load_jsonl(checkpoint / "prompts.jsonl"), split="train")
    hf = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(checkpoint)
    prompts = prompts[:: max(1, len(prompts) // 96)][:96]
    label = tok.convert_tokens_to_ids(REFUSAL_TOKENS["safety"])
    text = tok.encode(f" {REFUSAL_TEXTS['safety']}", add_special_tokens=False)
    examples = []
    for p in prompts:
        context = realtune._chat(tok, p.prompt)
        ids = context + [label] + text + [tok.eos_token_id]
        examples.append(realtune.Example(ids=ids, prompt_len=len(context)))
    n_header = realtune.shared_header_length(examples)
    config = realtune.TuneConfig(method="top_blocks")  # the recipe whose frozen blocks are cached
    split = len(hf.model.layers) - config.trainable_blocks
    lower = realtune.decoder_slice(hf.model, 0, split, norm=False)
    upper = realtune.decoder_slice(hf.model, split, len(hf.model.layers))
    head = hf.get_output_embeddings()
    pad = pad_id(tok)
    frozen = {
        n: timed(lambda n=n: realtune.frozen_states(lower, examples, pad, n_header=n), repeats)
        for n in (0, n_header)
    }
    states = realtune.frozen_states(lower, examples, pad, n_header=n_header)
    for p in [*upper.parameters(), *head.parameters()]:
        p.requires_grad_(True)
    batch = list(range(config.batch_size))  # the fine-tune's own step

    def step(n: int):
        loss = realtune._loss(
            upper, head, [examples[i] for i in batch], [states[i] for i in batch], 1.0, n
        )
        loss.backward()
        hf.zero_grad(set_to_none=True)

    steps = {n: timed(lambda n=n: step(n), repeats) for n in (0, n_header)}
    return {
        "examples": len(examples),
        "trainable_blocks": config.trainable_blocks,
        "step_batch": len(batch),
        "header_tokens": n_header,
        "mean_tokens": sum(len(e.ids) for e in examples) / len(examples),
        "frozen_states_header_per_row_s": frozen[0],
        "frozen_states_header_once_s": frozen[n_header],
        "ratio_frozen_states": frozen[0] / frozen[n_header],
        "step_header_per_row_s": steps[0],
        "step_header_once_s": steps[n_header],
        "ratio_step": steps[0] / steps[n_header],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", default="artifacts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    args = parser.parse_args()
    torch.manual_seed(0)
    result = {
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "organism_sft_step": organism_steps(args.artifacts, args.repeats),
        "smollm2_fine_tune": smollm2_fine_tune(args.artifacts, args.repeats),
    }
    print(json.dumps(result, indent=2))
    merge_results(args.out, {"training": result})


if __name__ == "__main__":
    main()
