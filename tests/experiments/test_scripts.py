"""Every experiment script runs in --quick mode on the micro organism and writes a PNG and a JSON."""

import importlib.util
import json
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
SCRIPTS = sorted(p.name for p in EXPERIMENTS.glob("[0-9][0-9]_*.py"))


def _main(name: str):
    spec = importlib.util.spec_from_file_location(name[:-3], EXPERIMENTS / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_quick(name, artifacts_root, tmp_path):
    png = _main(name)(
        [
            "--quick",
            "--out",
            str(tmp_path),
            "--artifacts",
            str(artifacts_root),
            "--batch-size",
            "64",
        ]
    )
    png = Path(png)
    assert png.exists() and png.stat().st_size > 5000
    record = json.loads(png.with_suffix(".json").read_text())
    assert record["seed"] == 0 and record["fingerprint"]["d_model"] == 64
    assert record["data"]


def test_scripts_are_deterministic(artifacts_root, tmp_path):
    main = _main("03_direction_cosine.py")
    a = Path(main(["--quick", "--out", str(tmp_path / "a"), "--artifacts", str(artifacts_root)]))
    b = Path(main(["--quick", "--out", str(tmp_path / "b"), "--artifacts", str(artifacts_root)]))
    assert (
        json.loads(a.with_suffix(".json").read_text())["data"]
        == json.loads(b.with_suffix(".json").read_text())["data"]
    )
