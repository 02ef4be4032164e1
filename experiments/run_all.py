"""Run every experiment script in order on the default organism and write figures/MANIFEST.json.

The organism is trained on first use (cached under --artifacts); later runs reuse it. Extra
arguments are passed to every script (e.g. `--quick`, `--model <hf id> --base-model <id>`);
`--only 00,12` runs a subset (by script number).
"""

import importlib.util
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mechrefusal import distributed  # noqa: E402
from mechrefusal.artifacts import write_json  # noqa: E402
from mechrefusal.experiment import git_sha  # noqa: E402


def scripts() -> list[Path]:
    return sorted(p for p in HERE.glob("[0-9][0-9]_*.py"))


def run_script(path: Path, argv: list[str]) -> Path:
    spec = importlib.util.spec_from_file_location(path.stem.replace("-", "_"), path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.main(argv)


def out_dir(argv: list[str]) -> Path:
    return Path(argv[argv.index("--out") + 1]) if "--out" in argv else Path("figures")


def split_only(argv: list[str]) -> tuple[list[str] | None, list[str]]:
    """`--only 00,12` (run_all's own option) picks scripts by number; the rest goes to them."""
    if "--only" not in argv:
        return None, argv
    i = argv.index("--only")
    if i + 1 >= len(argv):
        raise SystemExit("--only needs script numbers, e.g. --only 00,12")
    return argv[i + 1].split(","), argv[:i] + argv[i + 2 :]


def main(argv: list[str] | None = None) -> Path:
    only, argv = split_only(list(sys.argv[1:] if argv is None else argv))
    out = out_dir(argv)
    entries = []
    total = time.perf_counter()
    paths = [p for p in scripts() if only is None or p.name[:2] in only]
    if not paths:
        raise SystemExit(f"No experiment script matches --only {','.join(only or [])}.")
    for i, path in enumerate(paths, start=1):
        print(f"[{i}/{len(paths)}] {path.name}", flush=True)
        start = time.perf_counter()
        png = run_script(path, argv)
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
    if not distributed.is_main():
        return manifest
    write_json(
        manifest,
        {
            "git_sha": git_sha(),
            "total_seconds": round(time.perf_counter() - total, 1),
            "figures": entries,
        },
    )
    print(f"wrote {manifest} ({len(entries)} figures, {time.perf_counter() - total:.0f}s)")
    return manifest


if __name__ == "__main__":
    main()
