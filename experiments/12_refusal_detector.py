"""Figure 12 — how far to trust the string-pattern refusal detector: agreement with humans.

The fallback detector (a regular expression of refusal phrases, used for models without
refusal tokens) is scored against pyrit's human-labelled refusal set
(`pyrit==1.1.0`, scorer_evals/refusal_scorer/refusal.csv: objective, model response, human
verdict): accuracy, precision and recall, refusal = positive. The refusal-token rule needs the
model's own first answer token, so it does not apply to these third-party responses.
"""

from mechrefusal import experiment, plotting
from mechrefusal.evaluation import detector_report, pattern_refused
from mechrefusal.realdata import REFUSAL_LABELS, refusal_judgments


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv, with_layer=False, needs=())
    rows = refusal_judgments()
    report = detector_report([pattern_refused(r.response) for r in rows], [r.refused for r in rows])
    fig = plotting.detector_report(
        {"string patterns": report.to_dict()},
        title=f"Refusal detectors vs human labels (pyrit refusal set, n={report.n})",
    )
    data = {
        "source": f"pyrit==1.1.0 {REFUSAL_LABELS}",
        "detectors": {"string patterns": report.to_dict()},
    }
    return run.save("12_refusal_detector", fig, data, headline=report.to_dict())


if __name__ == "__main__":
    main()
