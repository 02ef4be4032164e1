"""The README's Python quick start runs as written (on the micro organism) from another working
directory and prints figure 07's number, the one the README quotes."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def quickstart_code() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start in Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's quick start has a python block"
    return match.group(1)


def test_quickstart_prints_figure_07s_number_from_another_directory(artifacts_root, tmp_path):
    code = quickstart_code()
    assert 'load_model("organism")' in code
    micro = code.replace('load_model("organism")', 'load_model("organism:micro")')
    env = {**os.environ, "MECHREFUSAL_ARTIFACTS": str(artifacts_root), "MECHREFUSAL_PROGRESS": "0"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", micro],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # Nothing was trained again: the store is the one the session trained into.
    assert "training organism" not in done.stdout
    assert f"artifact store: {Path(artifacts_root).resolve()}" in done.stdout
    printed = done.stdout.strip().splitlines()[-1]

    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("fig07", ROOT / "experiments" / "07_steering_results.py")
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    png = module.main(
        ["--quick", "--out", str(tmp_path / "fig"), "--artifacts", str(artifacts_root)]
    )
    record = json.loads(Path(png).with_suffix(".json").read_text())["data"]
    by = {m["name"]: m for m in record["methods"]}
    before = by["unsteered"]["over_refusal"]["contrast"]["value"]
    tuned = by["categorical (probe, every token, tuned)"]
    after = tuned["over_refusal"]["contrast"]["value"]
    broken = tuned["malformed"]["contrast"]["value"]
    expected = (
        f"contrast over-refusal {before:.1%} -> {after:.1%}, malformed {broken:.1%} "
        f"(layer {record['layer']})"
    )
    assert printed == expected


@pytest.mark.parametrize(
    "name", ["Categorical", "run_method", "steering_layer", "fit_router", "steering_preset"]
)
def test_quickstart_names_are_public(name):
    import mechrefusal

    assert name in mechrefusal.__all__ and name in quickstart_code()
