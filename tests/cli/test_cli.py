"""The `mechrefusal` command: eval, chat and figures on the micro organism, and its errors."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mechrefusal.cli.main import build_parser, main
from mechrefusal.data.prompts import save_jsonl, select


def _eval_file(micro, path: Path) -> Path:
    prompts = select(micro.prompts, split="eval")
    by_kind = {
        k: [p for p in prompts if p.kind == k][:12] for k in ("harmful", "contrast", "benign")
    }
    save_jsonl([p for rows in by_kind.values() for p in rows], path)
    return path


def _eval(path, artifacts_root, *extra: str):
    """`mechrefusal eval` on the micro organism with the session's artifact store."""
    return main(
        [
            "eval",
            "--model",
            "organism:micro",
            "--prompts",
            str(path),
            "--artifacts",
            str(artifacts_root),
            *extra,
        ]
    )


def test_eval_prints_rates_with_intervals(micro, artifacts_root, tmp_path, capsys):
    """The table's rates are what `summarize` gives on the same prompts, with their CIs."""
    from mechrefusal.data.prompts import load_jsonl
    from mechrefusal.scoring.evaluation import answer_prompts, summarize

    path = _eval_file(micro, tmp_path / "eval.jsonl")
    out_json = tmp_path / "rates.json"
    columns = _eval(path, artifacts_root, "--json", str(out_json))
    printed = capsys.readouterr().out
    expected = summarize(answer_prompts(micro.model, load_jsonl(path), progress=False))
    got = columns["unsteered"]
    assert got.to_dict() == expected.to_dict()
    rate = expected.harmful_refusal["all"]
    assert f"{rate.value:7.1%} [{rate.low:5.1%}, {rate.high:5.1%}] n={rate.n}" in printed
    assert "contrast over-refusal" in printed and "capability" in printed
    assert json.loads(out_json.read_text())["unsteered"] == expected.to_dict()


def test_eval_steers_with_the_tuned_preset_by_default_and_keeps_it(
    micro, artifacts_root, tmp_path, capsys, monkeypatch
):
    """`--steer` uses coefficients tuned on the direction split, saved in the store (so a
    second run reads them), and `--preset paper` the paper's."""
    import mechrefusal.steering.presets as presets
    from mechrefusal.reporting import experiment

    path = _eval_file(micro, tmp_path / "eval.jsonl")
    columns = _eval(path, artifacts_root, "--steer", "--layer", "1")
    run = experiment.start(
        None, ["--model", "organism:micro", "--artifacts", str(artifacts_root), "--layer", "1"]
    )
    saved = presets.preset_path(artifacts_root, run.router(), run.splits.direction)
    tuned = json.loads(saved.read_text())["steering"]
    name = f"steered (tuned: +{tuned['harmful_coef']:g}/{tuned['benign_coef']:g}, layer 1)"
    assert list(columns) == ["unsteered", name]
    assert name in capsys.readouterr().out
    monkeypatch.setattr(
        presets, "tune_categorical", lambda *a, **k: pytest.fail("tuned again, not read")
    )
    assert list(_eval(path, artifacts_root, "--steer", "--layer", "1")) == list(columns)
    paper = _eval(path, artifacts_root, "--steer", "--layer", "1", "--preset", "paper")
    assert list(paper)[1] == "steered (paper: +0.8/-1.2, layer 1)"


def test_chat_prints_the_routers_decision_before_each_answer(micro, artifacts_root):
    from mechrefusal.steering.presets import steering_preset
    from mechrefusal.steering.preview import preview_steering

    harmful = next(p for p in micro.prompts if p.split == "eval" and p.kind == "harmful")
    benign = next(p for p in micro.prompts if p.split == "eval" and p.kind == "benign")
    stdin = io.StringIO(f"{harmful.prompt}\n{benign.prompt}\n\n")
    stdout = io.StringIO()
    args = build_parser().parse_args(
        [
            "chat",
            "--model",
            "organism:micro",
            "--artifacts",
            str(artifacts_root),
            "--layer",
            "1",
            "--compare",
        ]
    )
    assert main_chat(args, stdin, stdout) == 2
    lines = stdout.getvalue().splitlines()
    decisions = [i for i, line in enumerate(lines) if line.startswith("router: ")]
    assert len(decisions) == 2
    for i in decisions:
        assert lines[i + 1].startswith("model (steered)> ")
        assert lines[i + 2].startswith("model (unsteered)> ")
        assert "P(harmful)" in lines[i] and "category " in lines[i] and "coefficient " in lines[i]
    # The decision printed is the router's own for that prompt.
    from mechrefusal.reporting import experiment

    run = experiment.start(
        None, ["--model", "organism:micro", "--artifacts", str(artifacts_root), "--layer", "1"]
    )
    router = run.router()
    # chat steers with the tuned preset by default (kept in the store by the first call)
    config = steering_preset(
        "tuned", run.loaded.model, router, run.splits.direction, artifacts_root
    )
    (row,) = preview_steering(run.loaded.model, router, [harmful], config, max_new_tokens=32)
    assert lines[decisions[0]] == row.decision()
    assert f"+{config.harmful_coef:g} / {config.benign_coef:g} x norm, tuned" in lines[0]


def main_chat(args, stdin, stdout):
    from mechrefusal.cli.chat import run_chat

    return run_chat(args, stdin=stdin, stdout=stdout)


def test_figures_quick_runs_the_chosen_scripts(artifacts_root, tmp_path):
    (manifest,) = main(
        [
            "figures",
            "--quick",
            "--only",
            "03",
            "--out",
            str(tmp_path),
            "--artifacts",
            str(artifacts_root),
        ]
    )
    record = json.loads(manifest.read_text())
    assert [f["figure"] for f in record["figures"]] == ["03_direction_cosine.png"]
    assert (tmp_path / "03_direction_cosine.json").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "--prompts", "{missing}"], "No prompt file"),
        (["eval", "--prompts", "{bad}"], "unknown kind 'weird'"),
        (["eval", "--model", "nosuch-model", "--prompts", "{good}"], "nosuch-model"),
        (["figures", "--quick", "--only", "99"], "No experiment script numbered 99"),
    ],
)
def test_errors_are_one_line_naming_the_fix(argv, message, tmp_path, micro):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "hi", "kind": "weird"}\n')
    good = _eval_file(micro, tmp_path / "good.jsonl")
    files = {"missing": tmp_path / "none.jsonl", "bad": bad, "good": good}
    argv = [a.format(**files) for a in argv]
    done = subprocess.run(
        [sys.executable, "-m", "mechrefusal", *argv, "--artifacts", str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mechrefusal: error: ") and message in err[0]
    assert "Traceback" not in done.stderr
    # --debug shows the traceback instead.
    debug = subprocess.run(
        [
            sys.executable,
            "-m",
            "mechrefusal",
            *argv,
            "--artifacts",
            str(tmp_path / "store"),
            "--debug",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr
