"""`mechrefusal figures`: run the numbered experiment scripts and write MANIFEST.json.

With no `--model`, the full job `make figures` runs: every figure on the organism
(`figures/`), the real-model figures on the fine-tuned SmolLM2 (`figures/smollm2/`), the
instruct model's baseline (`figures/smollm2-instruct/`), then the README's results table.
With `--model`, that model alone (into `--out`). `--only 00,07` picks scripts by number and
merges their entries into the directory's manifest;
`--quick` runs them on the micro organism into a scratch directory (a smoke test: the results
table refuses quick figures). Other options go to every script unchanged.
"""

import importlib.util
import json
import runpy
import time
from pathlib import Path

from mechrefusal import distributed
from mechrefusal._paths import CHECKOUT, experiments_dir
from mechrefusal.reporting.experiment import git_sha
from mechrefusal.store.artifacts import write_json

FULL_RUN: tuple[tuple[str, str, str | None], ...] = (
    ("organism", "figures", None),
    ("smollm2", "figures/smollm2", "00,01,02,03,04,05,06,07,08,09,10,11,13,14,15,16"),
    ("smollm2-instruct", "figures/smollm2-instruct", "00"),
)
"""(model, output directory, scripts) of the full job. Figure 12 does not depend on the model,
so it runs once per job, with the organism's figures, and the results table shows it once."""
QUICK_OUT = "figures-quick"


def scripts() -> list[Path]:
    return sorted(experiments_dir().glob("[0-9][0-9]_*.py"))


def _run_script(path: Path, argv: list[str]) -> Path:
    spec = importlib.util.spec_from_file_location(path.stem.replace("-", "_"), path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.main(argv)


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else None


def split_only(argv: list[str]) -> tuple[list[str] | None, list[str]]:
    """`--only 00,12` picks scripts by number; the rest of argv goes to every script."""
    if "--only" not in argv:
        return None, argv
    i = argv.index("--only")
    if i + 1 >= len(argv) or not argv[i + 1][:1].isdigit():
        raise ValueError("--only needs script numbers, e.g. --only 00,12")
    return argv[i + 1].split(","), argv[:i] + argv[i + 2 :]


def run_scripts(argv: list[str]) -> Path:
    """Run the chosen scripts with `argv` and write `<out>/MANIFEST.json` (rank 0 only)."""
    only, argv = split_only(list(argv))
    known = {p.name[:2] for p in scripts()}
    unknown = sorted(set(only or []) - known)
    if unknown:
        raise ValueError(
            f"No experiment script numbered {', '.join(unknown)}; valid: {', '.join(sorted(known))}."
        )
    out = Path(_option(argv, "--out") or "figures")
    paths = [p for p in scripts() if only is None or p.name[:2] in only]
    entries = []
    total = time.perf_counter()
    for i, path in enumerate(paths, start=1):
        print(f"[{i}/{len(paths)}] {path.name}", flush=True)
        start = time.perf_counter()
        png = _run_script(path, argv)
        if not distributed.is_main():  # only rank 0 writes figures, so only it lists them
            continue
        record = json.loads(Path(png).with_suffix(".json").read_text())
        entries.append(
            {
                "figure": Path(png).name,
                "json": Path(png).with_suffix(".json").name,
                "script": f"experiments/{path.name}",
                "seed": record["seed"],
                "model": record["model"],
                "fingerprint": record["fingerprint"],
                "git_sha": record["git_sha"],
                "wall_seconds": round(time.perf_counter() - start, 1),
                "headline": record["headline"],
            }
        )
    manifest = out / "MANIFEST.json"
    if distributed.is_main():
        record = {
            "git_sha": git_sha(),
            "total_seconds": round(time.perf_counter() - total, 1),
            "figures": entries,
        }
        if only is not None and manifest.exists():
            record = merged_manifest(json.loads(manifest.read_text()), record)
        write_json(manifest, record)
        print(f"wrote {manifest} ({len(entries)} figures, {time.perf_counter() - total:.0f}s)")
    return manifest


def merged_manifest(previous: dict, rerun: dict) -> dict:
    """A `--only` rerun's entries merged into the directory's manifest: the rerun's figures
    replace theirs, the others keep their entries and wall times, and the total becomes the
    sum of the entries' wall times (the figures were made by more than one run, so `reruns`
    lists each run's commit and figures)."""
    fresh = {e["script"] for e in rerun["figures"]}
    entries = sorted(
        [e for e in previous.get("figures", []) if e["script"] not in fresh] + rerun["figures"],
        key=lambda e: e["script"],
    )
    return {
        "git_sha": rerun["git_sha"],
        "total_seconds": round(sum(e["wall_seconds"] for e in entries), 1),
        "figures": entries,
        "reruns": [
            *previous.get("reruns", []),
            {"git_sha": rerun["git_sha"], "figures": sorted(fresh)},
        ],
    }


def results_table() -> None:
    """Rewrite the README's generated tables from the figures' JSON files."""
    if CHECKOUT is None:
        raise FileNotFoundError("The results table lives in the source checkout (scripts/).")
    script = runpy.run_path(
        str(CHECKOUT / "scripts" / "results_table.py"), run_name="results_table"
    )
    script["main"]([])


def run_figures(argv: list[str], *, model: str | None, quick: bool) -> list[Path]:
    """What `mechrefusal figures` runs (see the module docstring)."""
    if quick:
        out = [] if "--out" in argv else ["--out", QUICK_OUT]
        models = [] if model is None else ["--model", model]
        return [run_scripts(["--quick", *models, *out, *argv])]
    if model is not None:
        out = (
            []
            if "--out" in argv
            else ["--out", "figures" if model == "organism" else f"figures/{model}"]
        )
        return [run_scripts(["--model", model, *out, *argv])]
    if "--out" in argv or "--only" in argv:
        raise ValueError(
            "--out and --only choose one model's run: add --model organism (or smollm2, ...), "
            "or leave both out to run the full job."
        )
    manifests = []
    root = CHECKOUT or Path.cwd()
    for name, out, only in FULL_RUN:
        chosen = ["--only", only] if only else []
        manifests.append(run_scripts(["--model", name, "--out", str(root / out), *chosen, *argv]))
    results_table()
    return manifests
