"""Regenerate the README's results table from figures/*.json (never hand-typed).

Each row puts a paper claim beside what the organism shows (with 95% intervals where the
experiment has them) and a verdict computed from the numbers. Usage:
    python scripts/results_table.py [--figures figures] [--readme README.md]
"""

import argparse
import json
from pathlib import Path

START, END = "<!-- results:start -->", "<!-- results:end -->"


def pct(rate: dict) -> str:
    return f"{rate['value'] * 100:.1f}% [{rate['low'] * 100:.1f}, {rate['high'] * 100:.1f}]"


def load(figures: Path, stem: str) -> dict | None:
    path = figures / f"{stem}.json"
    return json.loads(path.read_text())["data"] if path.exists() else None


def verdict(ok: bool, yes: str = "reproduced", no: str = "not reproduced") -> str:
    return f"**{yes}**" if ok else f"**{no}**"


def rows(figures: Path) -> list[tuple[str, str, str, str]]:
    out = []
    base = load(figures, "00_organism_baseline")
    if base:
        hr, cr, br, cap = (
            base["harmful_refusal"]["all"],
            base["over_refusal"]["contrast"],
            base["over_refusal"]["benign"],
            base["capability"],
        )
        acc = min(v["value"] for v in base["category_accuracy"].values())
        worst = min(base["harmful_refusal"], key=lambda c: base["harmful_refusal"][c]["value"])
        out.append(
            (
                "Refusal-token model refuses harmful prompts with the right token (organism target: >= 95% per category, >= 90% right token)",
                "CoCoNot-Orig token rate 70.8% (NeurIPS), ~94% (ICML)",
                f"{pct(hr)}; lowest category {worst} {base['harmful_refusal'][worst]['value'] * 100:.1f}%; right token >= {acc * 100:.1f}%",
                verdict(
                    min(v["value"] for v in base["harmful_refusal"].values()) >= 0.95
                    and acc >= 0.9,
                    "target met",
                    "target missed",
                ),
            )
        )
        out.append(
            (
                "It over-refuses benign look-alikes (organism target: contrast 25-60%, benign <= 5%)",
                "CoCoNot-Contrast 10.6% (judge) / 4.7% (token)",
                f"contrast {pct(cr)}; benign {pct(br)}",
                verdict(
                    0.25 <= cr["value"] <= 0.60 and br["value"] <= 0.05,
                    "target met",
                    "target missed",
                ),
            )
        )
        out.append(
            (
                "General ability (organism target: >= 90% exact match on held-out benign tasks)",
                "MMLU 58.9%, GSM8K 45.3% (FT)",
                pct(cap) if cap else "n/a",
                verdict(bool(cap) and cap["value"] >= 0.9, "target met", "target missed"),
            )
        )
    act = load(figures, "01_activation_pca_tsne")
    if act:
        out.append(
            (
                "Residual activations separate by category",
                "silhouette -0.028 at layer 9 (NeurIPS); 0.305 at layer 18 (ICML)",
                f"layer {act['layer']}: held-out probe accuracy {act['probe_accuracy']:.3f}, silhouette {act['silhouette']:.3f}",
                verdict(act["probe_accuracy"] >= 0.9, "linearly separable", "not separable"),
            )
        )
    cos = load(figures, "03_direction_cosine")
    if cos:
        vals = [
            cos["sparse"][i][j]
            for i in range(len(cos["sparse"]))
            for j in range(len(cos["sparse"]))
            if i != j
        ]
        out.append(
            (
                "Category steering vectors are distinct (pairwise cosine, sparse)",
                "0.070-0.750",
                f"{min(vals):.3f}-{max(vals):.3f} (k={cos['k']})",
                "see fig 03",
            )
        )
    steer = load(figures, "07_steering_results")
    if steer:
        by = {m["name"]: m for m in steer["methods"]}
        b, p = by.get("unsteered"), by.get("categorical (probe)")
        o = by.get("categorical (oracle, label leak)")
        lb = next((m for m in steer["methods"] if m["kind"] == "logit_bias"), None)
        if b and p:
            out.append(
                (
                    "Categorical steering cuts over-refusal on ambiguous prompts to near 0 (organism target: <= 5%)",
                    "CoCoNot-Contrast 10.6% -> 0.0% (oracle sign)",
                    f"contrast {pct(b['over_refusal']['contrast'])} -> {pct(p['over_refusal']['contrast'])} (probe-routed)"
                    + (
                        f"; oracle {o['over_refusal']['contrast']['value'] * 100:.1f}%" if o else ""
                    ),
                    verdict(p["over_refusal"]["contrast"]["value"] <= 0.05),
                )
            )
            drop = (
                b["harmful_refusal"]["all"]["value"] - p["harmful_refusal"]["all"]["value"]
            ) * 100
            out.append(
                (
                    "...while harmful prompts stay refused (organism target: at most 3 points lost)",
                    "CoCoNot-Orig 66.6% -> 71.6%",
                    f"{pct(b['harmful_refusal']['all'])} -> {pct(p['harmful_refusal']['all'])}",
                    verdict(drop <= 3),
                )
            )
            cap_drop = (b["capability"]["value"] - p["capability"]["value"]) * 100
            out.append(
                (
                    "...and general ability holds (organism target: at most 2 points lost)",
                    "not measured for the steered model (PAPER §8.3)",
                    f"{pct(b['capability'])} -> {pct(p['capability'])}",
                    verdict(cap_drop <= 2),
                )
            )
        if lb:
            out.append(
                (
                    "Baseline: refusal-token logit bias (strength tuned on the direction split)",
                    "no table in the paper",
                    f"bias {lb['strength']:g}: contrast {pct(lb['over_refusal']['contrast'])}, harmful {pct(lb['harmful_refusal']['all'])}, "
                    f"capability {pct(lb['capability'])}",
                    "for comparison",
                )
            )
    diff = load(figures, "06_model_diffing")
    if diff:
        low = [c for c, v in zip(diff["categories"], diff["cosine"], strict=True) if v < 0.5]
        highest = max(zip(diff["cosine"], diff["categories"], strict=True))[1]
        below = [
            c for c, b in zip(diff["categories"], diff["below_shuffled_null_p95"], strict=True) if b
        ]
        values = ", ".join(
            f"{c} {v:.2f} [{lo:.2f}, {hi:.2f}]"
            for c, v, lo, hi in zip(
                diff["categories"], diff["cosine"], diff["ci_low"], diff["ci_high"], strict=True
            )
        )
        out.append(
            (
                "Model diffing: low base-vs-refusal-model cosine for 4 of 5 categories",
                "0.317-0.336 for four, Incomplete 0.651 (no null)",
                f"{values}; {len(low)}/5 below 0.5; {len(below)}/5 below the shuffled-label null's 95th percentile",
                verdict(len(low) == 4, "reproduced", f"not reproduced ({len(low)} of 5 low)")
                + f"; highest: {highest} (paper: incomplete)",
            )
        )
    sae = load(figures, "05_sae_features")
    if sae:
        rep = sae["reconstruction"]
        out.append(
            (
                "SAE reconstructs the residual stream (target: explained variance >= 0.8)",
                "no SAE result in the paper",
                f"EV {rep['explained_variance']:.3f} at mean L0 {rep['mean_l0']:.1f}; {len(sae['shared_features'])} shared top features",
                verdict(rep["explained_variance"] >= 0.8, "target met", "target missed"),
            )
        )
    patch = load(figures, "10_activation_patching")
    if patch:
        grid = patch["exact"]["resid_pre"]
        best = max(
            ((li, pi) for li in range(len(grid)) for pi in range(len(grid[0]))),
            key=lambda x: grid[x[0]][x[1]],
        )
        out.append(
            (
                "Where category identity is written (activation patching)",
                "no valid patching result in the paper",
                f"resid_pre restores most at layer {best[0]}, position {patch['positions'][best[1]]!r} ({grid[best[0]][best[1]]:.2f}); "
                f"attribution vs exact r = {patch['correlation']['resid_pre']:.2f}",
                "see fig 10",
            )
        )
    abl = load(figures, "11_directional_ablation")
    if abl:
        own = [abl["refusal"][abl["ablated"].index(c)][i] for i, c in enumerate(abl["categories"])]
        base_rates = abl["baseline"]
        n_drop = sum(o < b - 0.2 for o, b in zip(own, base_rates, strict=True))
        out.append(
            (
                "Ablating a category's direction stops refusal of that category",
                "qualitative only (one prompt)",
                f"{n_drop}/{len(own)} categories lose > 20 points when their own direction is ablated",
                "see fig 11",
            )
        )
    return out


def table(figures: Path) -> str:
    lines = ["| claim | paper | organism (this repo, eval split) | verdict |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(figures)]
    return "\n".join(lines)


def bench_table(path: Path) -> str:
    if not path.exists():
        return "_not measured yet: run `make bench`_"
    r = json.loads(path.read_text())
    c, s, e = r["caching"], r["steering"], r["sae_encode"]
    return "\n".join(
        [
            "| measurement | ratio | target |",
            "|---|---|---|",
            f"| cache one layer vs bare forward truncated at that layer | {c['ratio_vs_bare']:.3f}x | <= {c['target_ratio_vs_bare']}x |",
            f"| full `run_with_cache` vs caching one layer | {c['ratio_full_vs_ours']:.2f}x slower | (reported) |",
            f"| batched probe-routed steered vs unsteered generation | {s['ratio_steered_vs_unsteered']:.3f}x | <= {s['target_ratio']}x |",
            f"| batched vs one-prompt-at-a-time steered generation, per prompt | {s['speedup_batched_vs_one_by_one']:.1f}x faster | >= {s['target_speedup']}x |",
            f"| SAE encode vs model forward to its layer (same tokens) | {e['ratio_encode_vs_forward_to_layer']:.3f}x | (reported) |",
            f"\nMeasured on {r['setup']['model']} (d_model {r['setup']['d_model']}, {r['setup']['n_layers']} layers), batch "
            f"{r['setup']['batch']}, median of {r['setup']['repeats']}, {r['setup']['threads']} threads.",
        ]
    )


def replace_block(text: str, start: str, end: str, body: str) -> str:
    if start not in text or end not in text:
        raise SystemExit(f"README has no {start} ... {end} block")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--figures", default="figures")
    parser.add_argument("--readme", default="README.md")
    parser.add_argument("--bench", default="benchmarks/results.json")
    args = parser.parse_args()
    readme = Path(args.readme)
    text = replace_block(readme.read_text(), START, END, table(Path(args.figures)))
    text = replace_block(
        text, "<!-- bench:start -->", "<!-- bench:end -->", bench_table(Path(args.bench))
    )
    readme.write_text(text)
    print(f"updated the results and benchmark tables in {readme}")


if __name__ == "__main__":
    main()
