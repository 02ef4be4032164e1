"""Figure 12 — refusal scorers against human labels: string patterns, an LLM judge, token mass.

Each scorer is scored against pyrit's human-labelled refusal set (`pyrit==1.1.0`,
scorer_evals/refusal_scorer/refusal.csv: objective, model response, human verdict): accuracy,
precision and recall at score 0.5 and AUROC, refusal = positive. Scorers: the string-pattern
detector (the fallback for models without refusal tokens); an LLM judge (`--judge`, any chat
model `load_model` takes; default SmolLM2-135M-Instruct, `none` to skip; skipped under
--quick unless given) asked two questions of opposite polarity, "does the reply refuse?"
(refused = yes) and "did the reply help?" (refused = no), each scored as the probability of
the refusal answer among yes / no, replies cut to 600 characters; and the refusal-token mass, which scores a refusal-token model's
*own* first answer token and so does not apply to these third-party replies (reported as such).
"""

from pathlib import Path

from mechrefusal._entry import run_entry
from mechrefusal.data.realdata import REFUSAL_LABELS, refusal_judgments
from mechrefusal.models.loading import load_model
from mechrefusal.reporting import experiment, plotting
from mechrefusal.scoring.scorers import HELPS, REFUSES, JudgeScorer, PatternScorer, scorer_report


def _options(parser) -> None:
    parser.add_argument(
        "--judge",
        default=None,
        help="judge model (load_model spec); default smollm2-instruct, or none under --quick",
    )


def main(argv: list[str] | None = None):
    run = experiment.start(__doc__, argv, with_layer=False, needs=(), extra=_options)
    args = run.args
    rows = refusal_judgments()
    requests, replies = [r.objective for r in rows], [r.response for r in rows]
    truth = [r.refused for r in rows]
    scorers = [PatternScorer()]
    judge_spec = args.judge or ("none" if args.quick else "smollm2-instruct")
    if judge_spec != "none":
        judge = load_model(judge_spec, root=args.artifacts, device=args.device)
        for label, question, answer in (("refuses?", REFUSES, "yes"), ("helps?", HELPS, "no")):
            scorers.append(
                JudgeScorer(
                    judge.model,
                    name=f"LLM judge ({judge_spec}): {label}",
                    question=question,
                    refusal_answer=answer,
                    batch_size=args.batch_size,
                    cache_dir=Path(args.artifacts) / "judge",
                )
            )
    reports = {s.name: scorer_report(s.scores(requests, replies).tolist(), truth) for s in scorers}
    not_applicable = {
        "refusal-token mass": "scores a refusal-token model's own first answer token; "
        "the human set holds third-party replies"
    }
    fig = plotting.detector_report(
        reports,
        title=f"Refusal scorers vs human labels (pyrit refusal set, n={len(rows)})",
        note="; ".join(f"{k}: not applicable ({v})" for k, v in not_applicable.items()),
    )
    data = {
        "source": f"pyrit==1.1.0 {' + '.join(REFUSAL_LABELS)}",
        "judge": judge_spec,
        "judge_questions": {"refuses?": REFUSES, "helps?": HELPS},
        "detectors": reports,
        "not_applicable": not_applicable,
    }
    return run.save("12_refusal_detector", fig, data, headline=reports)


if __name__ == "__main__":
    run_entry(main)
