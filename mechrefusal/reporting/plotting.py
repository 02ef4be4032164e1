"""Figures: one function per figure, result in, `Figure` out (the only matplotlib importer).

Plotting never computes: every number drawn comes from a result object built elsewhere. Styles
follow the paper where it has one (docs/method.md, "Figures": RdBu_r heatmap fixed to [0, 1] with 3-decimal
annotations, tab10 grouped bars, the trade-off scatter with its shaded desirable region).
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mechrefusal.categories import CATEGORIES, DISPLAY_NAMES  # noqa: E402

GROUP_COLOURS = {c: plt.get_cmap("tab10")(i) for i, c in enumerate(CATEGORIES)}
GROUP_COLOURS.update({"benign": "#7f7f7f", "contrast": "#bcbd22"})


def _label(key: str) -> str:
    return DISPLAY_NAMES.get(key, key.replace("_", " ").capitalize())  # type: ignore[arg-type]


def _err(rates: list[dict]) -> np.ndarray:
    values = np.array([r["value"] for r in rates])
    lows, highs = np.array([r["low"] for r in rates]), np.array([r["high"] for r in rates])
    return _bar_errors(values, lows, highs) * 100


def _bar_errors(values, lows, highs) -> np.ndarray:
    """Error-bar lengths below and above each value; an interval that does not contain its
    value (a percentile bootstrap may not) gets no bar on that side instead of a crash."""
    return np.clip(np.array([values - lows, highs - values]), 0.0, None)


def organism_baseline(result: dict, title: str) -> Figure:
    """Fig 00: refusal per harmful category, category-token accuracy, over-refusal, capability (95% CIs).

    A result with a `paraphrase` entry (the organism's other grammar) or an `external` entry
    (SmolLM2: HarmBench) gets a panel beside the eval split's, on the same axis.
    """
    panels = [("eval split", result)]
    if result.get("paraphrase"):
        panels.append(("paraphrase split (another sentence grammar)", result["paraphrase"]))
    if result.get("external"):
        panels.append(("external set (HarmBench; evaluation only)", result["external"]))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(10 * len(panels), 4.8), squeeze=False, sharey=True
    )
    for ax, (name, panel) in zip(axes[0], panels, strict=True):
        _baseline_panel(ax, panel, name if len(panels) > 1 else None)
    axes[0][0].set_ylabel("% of prompts")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _baseline_panel(ax, result: dict, subtitle: str | None) -> None:
    cats = [c for c in CATEGORIES if c in result["harmful_refusal"]]
    groups = [
        (f"{_label(c)}", result["harmful_refusal"][c], result["category_accuracy"][c]) for c in cats
    ]
    x = np.arange(len(groups))
    ax.bar(
        x - 0.2,
        [g[1]["value"] * 100 for g in groups],
        0.4,
        yerr=_err([g[1] for g in groups]),
        label="refusal rate (harmful)",
        color="#d62728",
        capsize=3,
    )
    ax.bar(
        x + 0.2,
        [g[2]["value"] * 100 for g in groups],
        0.4,
        yerr=_err([g[2] for g in groups]),
        label="right category token",
        color="#ff9896",
        capsize=3,
    )
    extra = [
        ("benign\nover-refusal", result["over_refusal"].get("benign"), "#1f77b4"),
        ("contrast\nover-refusal", result["over_refusal"].get("contrast"), "#17becf"),
        ("capability\n(exact match)", result.get("capability"), "#2ca02c"),
    ]
    extra = [e for e in extra if e[1] is not None]
    x2 = np.arange(len(extra)) + len(groups) + 0.5
    for xi, (_, rate, colour) in zip(x2, extra, strict=True):
        ax.bar(xi, rate["value"] * 100, 0.6, yerr=_err([rate]), color=colour, capsize=3)
        ax.text(xi, rate["high"] * 100 + 2, f"{rate['value'] * 100:.1f}", ha="center", fontsize=8)
    ax.set_xticks(list(x) + list(x2), [g[0] for g in groups] + [e[0] for e in extra], fontsize=9)
    ax.set_ylim(0, 110)
    if subtitle:
        ax.set_title(subtitle, fontsize=10)
    ax.legend(loc="upper center", ncol=2, fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def scatter_embedding(panels: list[tuple[str, np.ndarray, list[str]]], title: str) -> Figure:
    """Figs 01-02: 2-D embeddings (PCA, t-SNE, ...) coloured by group label."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5), squeeze=False)
    for ax, (name, coords, labels) in zip(axes[0], panels, strict=True):
        for group in dict.fromkeys(labels):
            idx = [i for i, g in enumerate(labels) if g == group]
            big = len(labels) <= 20
            ax.scatter(
                coords[idx, 0],
                coords[idx, 1],
                s=120 if big else 9,
                alpha=0.9 if big else 0.55,
                color=GROUP_COLOURS.get(group),
                label=_label(group),
                edgecolors="k" if big else "none",
            )
            if big:
                for i in idx:
                    ax.annotate(
                        _label(group),
                        coords[i],
                        fontsize=8,
                        xytext=(5, 5),
                        textcoords="offset points",
                    )
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(fontsize=8, markerscale=1.5, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def cosine_heatmaps(
    panels: list[tuple[str, np.ndarray]], categories: list[str], title: str
) -> Figure:
    """Fig 03: pairwise cosine heatmaps, RdBu_r fixed to [0, 1], cells annotated to 3 decimals."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5.2), squeeze=False)
    names = [_label(c) for c in categories]
    for ax, (name, matrix) in zip(axes[0], panels, strict=True):
        im = ax.imshow(matrix, cmap="RdBu_r", vmin=0, vmax=1)
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(
                    j,
                    i,
                    f"{matrix[i, j]:.3f}",
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if abs(matrix[i, j] - 0.5) > 0.35 else "black",
                )
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set_xticks(np.arange(-0.5, len(names)), minor=True)
        ax.set_yticks(np.arange(-0.5, len(names)), minor=True)
        ax.grid(which="minor", color="black", linewidth=1)
        ax.tick_params(which="minor", length=0)
        ax.set_title(name)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def sparse_features(
    abs_values: list[list[float]],
    categories: list[str],
    features: list[int],
    n_panels: int,
    title: str,
) -> Figure:
    """Fig 04: grouped bars of |v_c[f]| for shared top coordinates, plus one panel per most-shared one."""
    values = np.array(abs_values)
    panel_features = features[:n_panels]
    n_panels = len(panel_features)
    fig = plt.figure(figsize=(9 + 3 * n_panels, 5))
    grid = fig.add_gridspec(1, 2 + n_panels, width_ratios=[3, 0.05] + [1] * n_panels)
    ax = fig.add_subplot(grid[0, 0])
    x = np.arange(len(categories))
    width = 0.8 / max(len(features), 1)
    for j, f in enumerate(features):
        ax.bar(
            x + (j - (len(features) - 1) / 2) * width,
            values[:, j],
            width,
            label=f"Feature {f}",
            color=plt.get_cmap("tab10")(j % 10),
        )
    ax.set_xticks(x, [_label(c) for c in categories], rotation=20)
    ax.set_ylabel("Feature Absolute Value")
    ax.set_ylim(0, max(0.5, float(values.max()) * 1.15) if values.size else 0.5)
    ax.set_title("Top Steering Vector Values")
    ax.legend(ncol=len(features), fontsize=7, loc="upper center")
    for k, f in enumerate(panel_features):
        pax = fig.add_subplot(grid[0, 2 + k])
        pax.bar(
            x, values[:, k], 0.6, color=[plt.get_cmap("tab20")(i) for i in range(len(categories))]
        )
        pax.set_xticks(x, [_label(c)[:6] for c in categories], rotation=60, fontsize=7)
        pax.set_title(f"Feature #{f}", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def model_diffing(result: dict, title: str, *, control: dict | None = None) -> Figure:
    """Fig 06: base-vs-refusal cosine per category with bootstrap CIs, null band and split-half
    ceiling; with `control`, base-vs-control (fine-tuned without the tokens) in a second panel."""
    panels = [("base vs refusal-token model", result)]
    if control:
        panels.append(("base vs control (same fine-tune, no category tokens)", control))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(9 * len(panels), 5), squeeze=False, sharey=True
    )
    for ax, (name, panel) in zip(axes[0], panels, strict=True):
        _diffing_panel(ax, panel, name if control else None)
    axes[0][0].set_ylabel("Cosine similarity")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _diffing_panel(ax, result: dict, subtitle: str | None) -> None:
    cats = result["categories"]
    x = np.arange(len(cats))
    cos = np.array(result["cosine"])
    ax.bar(
        x,
        cos,
        0.55,
        color=[GROUP_COLOURS[c] for c in cats],
        yerr=_bar_errors(cos, np.array(result["ci_low"]), np.array(result["ci_high"])),
        capsize=4,
        label="cosine (sparse directions), 95% bootstrap CI",
    )
    for i in range(len(cats)):
        ax.fill_between(
            [i - 0.4, i + 0.4],
            result["shuffled_null_p05"][i],
            result["shuffled_null_p95"][i],
            color="grey",
            alpha=0.3,
            label="shuffled-label null (5-95%)" if i == 0 else None,
        )
        ax.hlines(
            result["random_null_p95"][i],
            i - 0.4,
            i + 0.4,
            color="k",
            linestyle=":",
            label="random sparse null (95%)" if i == 0 else None,
        )
    ax.scatter(
        x,
        result["split_half"],
        marker="D",
        color="k",
        zorder=3,
        label="split-half ceiling (fine-tuned model)",
    )
    ax.scatter(
        x,
        result["cosine_dense"],
        marker="o",
        facecolors="none",
        edgecolors="k",
        zorder=3,
        label="dense directions",
    )
    for i, v in enumerate(cos):
        ax.text(i + 0.3, max(v, 0) + 0.02, f"{v:.3f}", ha="left", fontsize=9)
    ax.set_xticks(x, [_label(c) for c in cats])
    ax.set_ylim(0, 1.05)
    if subtitle:
        ax.set_title(subtitle, fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3)


def steering_results(
    methods: list[dict],
    title: str,
    *,
    paraphrase: list[dict] | None = None,
    layers: dict | None = None,
) -> Figure:
    """Fig 07: grouped bars per metric, one bar per method, with 95% CIs; the paraphrase split's
    methods (when given) in a second panel below, in the same colours; with `layers` (the
    study-reader method's layer choice), its tuned outcome per candidate layer on the choice
    split at the bottom."""
    panels = [("eval split", methods)] + ([("paraphrase split", paraphrase)] if paraphrase else [])
    rows = len(panels) + (layers is not None)
    heights = [6.5] * len(panels) + ([4.0] if layers is not None else [])
    fig, axes = plt.subplots(
        rows, 1, figsize=(16, sum(heights)), squeeze=False, height_ratios=heights
    )
    colours = {m["name"]: plt.get_cmap("tab20")(j % 20) for j, m in enumerate(methods)}
    for ax, (name, panel) in zip(axes[: len(panels), 0], panels, strict=True):
        _steering_panel(ax, panel, colours, f"{title}: {name}" if paraphrase else title)
    if layers is not None:
        _layer_choice_panel(axes[-1, 0], layers)
    fig.tight_layout()
    return fig


def _layer_choice_panel(ax, layers: dict) -> None:
    """Each candidate steering layer's tuned point on the choice split, the chosen one marked."""
    outcomes = layers["per_layer"]
    xs = [o["layer"] for o in outcomes]
    series = [
        ("contrast not answered", "not_answered", "C3"),
        ("harmful refused", "refusal", "C0"),
        ("capability", "capability", "C2"),
    ]
    base = layers["unsteered"]
    for label, key, colour in series:
        if any(o[key] is None for o in outcomes):
            continue
        ax.plot(xs, [o[key] * 100 for o in outcomes], marker="o", color=colour, label=label)
        ax.axhline(base[key] * 100, color=colour, ls=":", lw=1, label=f"{label}, unsteered")
    for o in outcomes:
        ax.annotate(
            f"{o['harmful_coef']:+g}/{o['benign_coef']:+g}",
            (o["layer"], o["not_answered"] * 100),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=7,
        )
    ax.axvline(layers["layer"], color="grey", ls="--", lw=1, label="chosen layer")
    reader = layers["reader"]
    ax.set_title(
        "Study-reader method: tuned outcome per steering layer on the choice split "
        f"(harm reader: {reader['reader']}, {reader['position']}, layer {reader['layer']}; "
        "labels: harmful/benign coefficient)",
        fontsize=10,
    )
    ax.set_xlabel("steering layer (resid_post)")
    ax.set_ylabel("% of prompts")
    ax.set_xticks(xs)
    ax.set_ylim(0, 108)
    ax.legend(fontsize=7, ncol=4, loc="lower right")
    ax.grid(alpha=0.3)


def _steering_panel(ax, methods: list[dict], colours: dict, title: str) -> None:
    metrics = [
        ("harmful refusal ↑", lambda m: m["harmful_refusal"]["all"]),
        ("benign over-refusal ↓", lambda m: m["over_refusal"]["benign"]),
        # Refused or malformed: a push that breaks the answers must not look like a cure.
        (
            "contrast not answered ↓\n(refused or malformed)",
            lambda m: m.get("not_answered", {}).get("contrast") or m["over_refusal"]["contrast"],
        ),
        ("capability ↑", lambda m: m["capability"]),
    ]
    # A prompt set without checkable answers has no capability: leave the group out.
    metrics = [(n, get) for n, get in metrics if all(get(m) is not None for m in methods)]
    x = np.arange(len(metrics))
    width = 0.84 / len(methods)
    for j, m in enumerate(methods):
        rates = [get(m) for _, get in metrics]
        pos = x + (j - (len(methods) - 1) / 2) * width
        ax.bar(
            pos,
            [r["value"] * 100 for r in rates],
            width,
            yerr=_err(rates),
            capsize=2,
            label=m["name"],
            color=colours.get(m["name"], plt.get_cmap("tab20")(j % 20)),
            # Random-vector controls are hatched, so each reads as the control it is.
            hatch="//" if m.get("kind") == "random_control" else None,
            edgecolor="white" if m.get("kind") == "random_control" else None,
        )
        for p, r in zip(pos, rates, strict=True):
            ax.text(p, r["high"] * 100 + 1.5, f"{r['value'] * 100:.0f}", ha="center", fontsize=6)
    ax.set_xticks(x, [name for name, _ in metrics])
    ax.set_ylabel("% of prompts")
    ax.set_ylim(0, 108)
    ax.set_title(title)
    ax.legend(
        fontsize=8, ncol=min(4, len(methods)), loc="upper center", bbox_to_anchor=(0.5, -0.07)
    )
    ax.grid(axis="y", alpha=0.3)


def tradeoff_curves(curves: dict[str, list[dict]], title: str) -> Figure:
    """Fig 08: harmful refusal vs contrast prompts not answered (refused or malformed) as the
    coefficient varies, one curve per method: a push that breaks answers is not a cure. A method
    swept at several harmful coefficients is drawn as its frontier (`sweeps.frontier`), each
    point labelled harmful/benign coefficient, with every point it was swept at faint behind."""
    from mechrefusal.steering.sweeps import frontier

    fig, ax = plt.subplots(figsize=(8, 6))
    ax.add_patch(plt.Rectangle((0, 75), 25, 30, color="lightgreen", alpha=0.35, label="desirable"))
    markers = ["s", "o", "D", "X", "^", "v"]
    for j, (name, points) in enumerate(curves.items()):
        two_way = len({p.get("harmful_coef") for p in points}) > 1
        line = frontier(points) if two_way else points
        if two_way:
            ax.scatter(
                [p["not_answered"] * 100 for p in points],
                [p["refusal"] * 100 for p in points],
                color=f"C{j}",
                alpha=0.18,
                s=14,
            )
        xs = [p["not_answered"] * 100 for p in line]
        ys = [p["refusal"] * 100 for p in line]
        label = f"{name} (frontier over both coefficients)" if two_way else name
        ax.plot(xs, ys, marker=markers[j % len(markers)], label=label, color=f"C{j}")
        for p, xv, yv in zip(line, xs, ys, strict=True):
            text = f"+{p['harmful_coef']:g}/{p['strength']:g}" if two_way else f"{p['strength']:g}"
            ax.annotate(text, (xv, yv), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("Contrast prompts not answered: refused or malformed (%)")
    ax.set_ylabel("Refusal rate on harmful prompts (%)")
    ax.set_xlim(-2, 100)
    ax.set_ylim(0, 102)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def layer_sweep(result: dict, title: str) -> Figure:
    """Fig 09: probe accuracies and relative direction norms by layer; the chosen layer marked."""
    layers = result["layers"]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 4.5))
    ax1.plot(layers, result["category_accuracy"], marker="o", label="category (5-way) probe")
    ax1.plot(layers, result["harm_accuracy"], marker="s", label="harmful vs benign probe")
    ax1.set_ylabel("accuracy on held-out templates")
    ax1.set_ylim(0, 1.05)
    ax3.plot(
        layers, result["steering_effect"], marker="D", color="C3", label="refusal logit gap drop"
    )
    ax3.set_ylabel("mean drop of refusal logit gap (contrast prompts)")
    ax3.set_title("steering effect of -1.2 x norm along v_c")
    for c, norms in result["relative_norm"].items():
        ax2.plot(layers, norms, marker="o", label=_label(c), color=GROUP_COLOURS[c])
    ax2.set_ylabel("||v_c|| / mean activation norm")
    for ax in (ax1, ax2):
        ax.axvline(
            result["chosen_layer"], color="k", linestyle="--", alpha=0.6, label="chosen layer"
        )
        ax.set_xlabel("layer (resid_post)")
        ax.set_xticks(layers)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def ablation_matrix(results: list[dict], title: str) -> Figure:
    """Fig 11: refusal rate per harmful category after ablating each direction (baseline on
    top), one panel per ablation mode (zero, mean)."""
    fig, axes = plt.subplots(
        1, len(results), figsize=(6.5 * len(results), 5.5), squeeze=False, layout="constrained"
    )
    for ax, result in zip(axes[0], results, strict=True):
        rows = ["none (baseline)"] + [
            _label(a) if a != "global" else "global direction" for a in result["ablated"]
        ]
        matrix = np.array([result["baseline"]] + result["refusal"]) * 100
        im = ax.imshow(matrix, cmap="Reds", vmin=0, vmax=100)
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                ax.text(
                    j,
                    i,
                    f"{matrix[i, j]:.0f}",
                    ha="center",
                    va="center",
                    color="white" if matrix[i, j] > 60 else "black",
                    fontsize=9,
                )
        ax.set_xticks(
            range(len(result["categories"])),
            [_label(c) for c in result["categories"]],
            rotation=30,
            ha="right",
        )
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel("harmful prompts of category")
        ax.set_ylabel("ablated direction")
        ax.axhline(0.5, color="k", linewidth=1.5)
        ax.set_title(f"{result.get('mode', 'zero')} ablation")
    fig.colorbar(im, ax=axes[0].tolist(), label="refusal rate (%)")
    fig.suptitle(title)
    return fig


def save_figure(fig: Figure, path) -> None:
    fig.savefig(path, dpi=150)
    plt.close(fig)


def _feature_panels(fig, ax1, ax2, cats, features, matrix, shared) -> None:
    """Fig 05's left panels: the top features' bars and the feature x category matrix."""
    x = np.arange(len(cats))
    width = 0.8 / max(len(features), 1)
    for j, f in enumerate(features):
        ax1.bar(
            x + (j - (len(features) - 1) / 2) * width,
            matrix[:, j],
            width,
            label=f"F{f}{' (shared)' if f in shared else ''}",
            color=plt.get_cmap("tab20")(j % 20),
        )
    ax1.set_xticks(x, [_label(c) for c in cats], rotation=20)
    ax1.set_ylabel("mean activation, harmful[c] - benign")
    ax1.set_title("Top SAE features per category")
    ax1.legend(fontsize=6, ncol=2)
    im = ax2.imshow(
        matrix.T, aspect="auto", cmap="RdBu_r", vmin=-abs(matrix).max(), vmax=abs(matrix).max()
    )
    ax2.set_xticks(x, [_label(c) for c in cats], rotation=30, ha="right")
    ax2.set_yticks(
        range(len(features)), [f"F{f}{'*' if f in shared else ''}" for f in features], fontsize=7
    )
    ax2.set_title("Feature x category (* shared)")
    fig.colorbar(im, ax=ax2, fraction=0.046)


def sae_features(result: dict, title: str) -> Figure:
    """Fig 05: top SAE features per category (grouped bars), the feature x category matrix, faithfulness curves."""
    cats = result["categories"]
    features = result["shown_features"]
    matrix = np.array(result["shown_matrix"])
    fig, (ax1, ax2, ax3) = plt.subplots(
        1, 3, figsize=(18, 5), gridspec_kw={"width_ratios": [1.4, 1.2, 1]}
    )
    shared = set(result["shared_features"])
    rep = result["reconstruction"]
    if not result.get("interpretable", True):
        # Too lossy to read features from: say so instead of drawing them.
        for ax in (ax1, ax2):
            ax.text(
                0.5,
                0.5,
                f"SAE explains {rep['explained_variance']:.0%} of held-out variance\n"
                "(below the line set for reading features):\nfeatures not shown",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
            ax.set_axis_off()
    else:
        _feature_panels(fig, ax1, ax2, cats, features, matrix, shared)
    for curve in result["faithfulness"]:
        ax3.plot(
            curve["ks"],
            curve["kept"],
            marker="o",
            label=_label(curve["category"]),
            color=GROUP_COLOURS[curve["category"]],
        )
        if "kept_random" in curve:
            ax3.plot(
                curve["ks"],
                curve["kept_random"],
                linestyle="--",
                alpha=0.6,
                color=GROUP_COLOURS[curve["category"]],
            )
    ax3.plot([], [], linestyle="--", color="grey", label="random k features (control)")
    ax3.axhline(1.0, color="k", linestyle=":")
    ax3.set_xscale("log", base=2)
    ax3.set_xlabel("top-k SAE features used to rebuild the direction")
    ax3.set_ylabel("steering effect kept (rebuilt / original)")
    ax3.set_title("Rebuild faithfulness")
    ax3.legend(fontsize=7)
    fig.suptitle(
        f"{title} — SAE explained variance {rep['explained_variance']:.3f}, mean L0 {rep['mean_l0']:.1f}, "
        f"dead {rep['dead_fraction']:.1%}"
    )
    fig.tight_layout()
    return fig


def patching(result: dict, title: str) -> Figure:
    """Fig 10: layer x position heatmaps per site (exact), attribution-vs-exact scatter."""
    sites = result["sites"]
    fig, axes = plt.subplots(1, len(sites) + 1, figsize=(5 * len(sites) + 5, 4.8))
    n_pos = len(result["positions"])
    # Columns before the first one any patch moves are the prompts' shared prefix (exactly 0
    # by construction): leave them out so the positions that matter can be read.
    moved = np.abs(np.stack([np.array(result["exact"][s]) for s in sites])).max(axis=(0, 1))
    first = max(0, int(np.argmax(moved > 1e-6)) - 1) if (moved > 1e-6).any() else 0
    labels = [
        f"{i - n_pos}\n{t.strip() or repr(t)}"
        for i, t in enumerate(result["positions"])
        if i >= first
    ]
    for ax, site in zip(axes, sites, strict=False):
        grid = np.array(result["exact"][site])[:, first:]
        im = ax.imshow(grid, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
        step = 1 if grid.shape[0] <= 12 else 2
        ax.set_yticks(range(0, grid.shape[0], step))
        ax.set_ylabel("layer")
        ax.set_xticks(range(grid.shape[1]), labels, fontsize=6)
        ax.set_xlabel("position from the end (tokens of the first pair)")
        ax.set_title(f"{site} (exact, 1 = clean)")
        fig.colorbar(im, ax=ax, fraction=0.046)
    ax = axes[-1]
    for j, site in enumerate(sites):
        ax.scatter(
            np.ravel(result["exact"][site]),
            np.ravel(result["attribution"][site]),
            s=8,
            alpha=0.6,
            label=f"{site} (r = {result['correlation'][site]:.2f})",
            color=f"C{j}",
        )
    ax.plot([-1, 1.2], [-1, 1.2], "k:", linewidth=1)
    ax.set_xlabel("exact activation patching")
    ax.set_ylabel("attribution patching")
    ax.set_title("Attribution vs exact")
    ax.legend(fontsize=7)
    fig.suptitle(f"{title} ({result['n_pairs']} pairs)")
    fig.tight_layout()
    return fig


def detector_report(reports: dict[str, dict], title: str, note: str = "") -> Figure:
    """Fig 12: accuracy, precision, recall and AUROC of each refusal scorer against human labels."""
    metrics = ["accuracy", "precision", "recall", "auroc"]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    x = np.arange(len(metrics))
    width = 0.8 / len(reports)
    for j, (name, report) in enumerate(reports.items()):
        values = [report.get(m, float("nan")) * 100 for m in metrics]
        pos = x + (j - (len(reports) - 1) / 2) * width
        ax.bar(pos, values, width, label=name, color=f"C{j}")
        for p, v in zip(pos, values, strict=True):
            if not np.isnan(v):
                ax.text(p, v + 1.5, f"{v:.0f}", ha="center", fontsize=8)
    ax.set_xticks(x, ["accuracy", "precision", "recall", "AUROC"])
    ax.set_ylabel("% (refusal = positive)")
    ax.set_ylim(0, 110)
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), fontsize=8, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    if note:
        fig.text(0.01, 0.01, note, fontsize=7, color="dimgrey")
    fig.tight_layout(rect=(0, 0.04 if note else 0, 1, 1))
    return fig


def _annotated_heatmap(ax, matrix: np.ndarray, rows: list[str], cols: list[str], cmap, limit):
    im = ax.imshow(matrix, cmap=cmap, vmin=-limit if cmap == "RdBu_r" else 0, vmax=limit)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(
                j,
                i,
                f"{matrix[i, j]:+.0f}" if cmap == "RdBu_r" else f"{matrix[i, j]:.0f}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if abs(matrix[i, j]) > 0.6 * limit else "black",
            )
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    return im


def cross_category(result: dict, title: str) -> Figure:
    """Fig 14: every category vector on every category's harmful prompts: the change in refusal
    when it is subtracted, and the share answered with its own token when it is added."""
    rows = [_label(v) for v in result["vectors"]]
    cols = [_label(c) for c in result["categories"]]
    removed = (np.array(result["removed_refusal"]) - np.array(result["baseline_refusal"])) * 100
    added = (np.array(result["added_token"]) - np.array(result["baseline_token"])) * 100
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), layout="constrained")
    for ax, matrix, what in (
        (axes[0], removed, f"refusal change (points), vector x {result['remove_coef']:g}"),
        (
            axes[1],
            added,
            f"share answered with the vector's token, change (points), x {result['add_coef']:g}",
        ),
    ):
        im = _annotated_heatmap(ax, matrix, rows, cols, "RdBu_r", 100)
        ax.set_xlabel("harmful prompts of category")
        ax.set_ylabel("steering vector of category")
        ax.set_title(what, fontsize=10)
    fig.colorbar(im, ax=axes.tolist(), label="percentage points")
    fig.suptitle(title)
    return fig


def ridge_vs_mean(result: dict, title: str) -> Figure:
    """Fig 15: ridge vs difference-in-means directions: cosine per category, the steering effect
    as more coordinates are kept, and how well each separates harmful prompts at every layer."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), layout="constrained")
    cats = list(result["cosine"]["dense"])
    x = np.arange(len(cats))
    for j, kind in enumerate(("dense", "sparse")):
        axes[0].bar(
            x + (j - 0.5) * 0.38,
            [result["cosine"][kind][c] for c in cats],
            0.38,
            label=f"{kind} vectors",
            color=f"C{j}",
        )
    axes[0].set_xticks(x, [_label(c) for c in cats], rotation=30, ha="right")
    axes[0].set_ylabel("cosine(ridge, difference in means)")
    axes[0].set_ylim(-1, 1)
    axes[0].axhline(0, color="k", linewidth=0.8)
    axes[0].legend(fontsize=8)
    axes[0].set_title("agreement per category")
    for j, (name, points) in enumerate(result["k_curve"].items()):
        ks = [p["k"] for p in points]
        axes[1].plot(
            ks,
            [p["over_refusal"] * 100 for p in points],
            marker="o",
            color=f"C{j}",
            label=f"{name}: contrast over-refusal",
        )
        axes[1].plot(
            ks,
            [p["refusal"] * 100 for p in points],
            marker="s",
            linestyle="--",
            color=f"C{j}",
            label=f"{name}: harmful refusal",
        )
    axes[1].axhline(
        result["unsteered"]["over_refusal"] * 100,
        color="grey",
        linestyle=":",
        label="unsteered contrast over-refusal",
    )
    axes[1].set_xscale("log", base=2)
    axes[1].set_xlabel("coordinates kept (k)")
    axes[1].set_ylabel("% of eval prompts (first token)")
    axes[1].set_ylim(0, 102)
    axes[1].legend(fontsize=7)
    axes[1].set_title(f"probe-routed steering, coefficient {result['coefficient']:g}")
    for j, (name, values) in enumerate(result["layer_auroc"].items()):
        axes[2].plot(result["layers"], values, marker="o", color=f"C{j}", label=name)
    axes[2].set_xticks(result["layers"])
    axes[2].set_xlabel("layer (resid_post)")
    axes[2].set_ylabel("AUROC, harmful vs benign/contrast (eval)")
    axes[2].set_ylim(0.4, 1.02)
    axes[2].legend(fontsize=8)
    axes[2].set_title("global direction: projection separates prompts")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return fig


_ROUTED_KINDS = ("harmful", "contrast", "over-refused contrast", "benign")


def routing_study(result: dict, title: str) -> Figure:
    """Fig 16: readers by layer (AUROC on the choice split; contrast routed harmful on the first
    held-out split), then the chosen reader and the figures' router per split and prompt kind."""
    choice, reported = result["choice_split"], result["reported_splits"]
    first = reported[0]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(19, 5))
    styles = {"prompt_end": "-", "last": ":"}
    for i, reader in enumerate(result["readers"]):
        for position in result["positions"]:
            rows = [
                r for r in result["rows"] if r["reader"] == reader and r["position"] == position
            ]
            layers = [r["layer"] for r in rows]
            label = f"{reader}, {position.replace('_', ' ')}"
            common = dict(color=f"C{i}", linestyle=styles[position], label=label, marker=".")
            ax1.plot(layers, [r["auroc_harmful_vs_contrast"][choice] for r in rows], **common)
            ax2.plot(
                layers, [100 * r["routed"][first]["contrast"]["value"] for r in rows], **common
            )
    router = result["figures_router"]
    ax2.axhline(
        100 * router["routed"][first]["contrast"]["value"],
        color="k",
        linestyle="--",
        label=f"figures' router (layer {router['layer']})",
    )
    ax1.set_ylabel(f"AUROC, harmful vs contrast ({choice} split)")
    ax2.set_ylabel(f"% contrast routed harmful ({first} split)")
    ax2.set_title(f"thresholds keep {result['recall']:.0%} of {choice} harmful routed harmful")
    for ax in (ax1, ax2):
        ax.set_xlabel("layer (resid_post)")
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=7)
    chosen = result["chosen"]
    bars = [
        (
            f"chosen: {chosen['reader']}, {chosen['position'].replace('_', ' ')}, L{chosen['layer']}",
            chosen,
        ),
        ("figures' router", router),
    ]
    labels = [(s, k) for s in reported for k in _ROUTED_KINDS if k in chosen["routed"][s]]
    x = np.arange(len(labels))
    width = 0.8 / len(bars)
    for j, (name, row) in enumerate(bars):
        rates = [row["routed"][s][k] for s, k in labels]
        values = [100 * r["value"] for r in rates]
        ax3.bar(
            x + j * width,
            values,
            width,
            yerr=_err(rates),
            capsize=2,
            label=name,
            color=f"C{j + 3}",
        )
    ax3.set_xticks(x + width / 2)
    ax3.set_xticklabels([f"{s}\n{k}" for s, k in labels], rotation=45, ha="right", fontsize=7)
    ax3.set_ylabel("% routed harmful (95% Wilson)")
    ax3.set_ylim(0, 105)
    ax3.legend(fontsize=8)
    ax3.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
