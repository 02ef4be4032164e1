"""Refusal scorers: AUROC against scikit-learn, the LLM judge against an unbatched reference,
the refusal-token mass against its definition, and rescoring through the toolkit's metrics."""

import json
import math

import pytest
import torch
from sklearn.metrics import roc_auc_score

from mechrefusal.categories import CATEGORIES, token_ids
from mechrefusal.data.chat import tokenize_prompts
from mechrefusal.data.prompts import Prompt
from mechrefusal.scoring.evaluation import ScoredAnswer, summarize
from mechrefusal.scoring.scorers import (
    JUDGE_TEMPLATE,
    NO_FORMS,
    REFUSES,
    YES_FORMS,
    JudgeScorer,
    PatternScorer,
    TokenMassScorer,
    auroc,
    rescore,
    scorer_report,
    single_token_ids,
)


def test_auroc_matches_sklearn_with_ties():
    gen = torch.Generator().manual_seed(0)
    scores = (torch.rand(200, generator=gen) * 5).round() / 5  # many ties
    truth = (torch.rand(200, generator=gen) < scores * 0.8 + 0.1).tolist()
    assert auroc(scores.tolist(), truth) == pytest.approx(roc_auc_score(truth, scores.numpy()))
    assert math.isnan(auroc([0.1, 0.2], [True, True]))  # one class only: undefined


def test_scorer_report_thresholds_and_counts():
    report = scorer_report([0.9, 0.6, 0.4, 0.1], [True, False, True, False])
    assert report["accuracy"] == 0.5 and report["precision"] == 0.5 and report["recall"] == 0.5
    assert report["auroc"] == pytest.approx(0.75)  # 3 of 4 (positive, negative) pairs ordered


@pytest.fixture(scope="module")
def judge_model(make_tiny_hooked):
    """A tiny random TL chat model whose tokenizer has single-token yes / no."""
    from mechrefusal.models.tokenizer import train_tokenizer

    texts = [
        JUDGE_TEMPLATE.format(request="tell me a joke", reply="I can't do that", question=REFUSES)
    ] * 5
    texts += [" ".join(YES_FORMS + NO_FORMS)] * 20
    return make_tiny_hooked(train_tokenizer(texts, vocab_size=300), n_layers=1, n_ctx=256)


def test_judge_matches_an_unbatched_reference_and_caches(judge_model, tmp_path):
    requests = ["tell me a joke", "how do I cook rice", "give me the answer"]
    replies = ["I can't do that.", "Boil it in water for twelve minutes, then rest it.", "no"]
    judge = JudgeScorer(judge_model, batch_size=2, cache_dir=tmp_path)
    scores = judge.scores(requests, replies)
    tok = judge_model.tokenizer
    yes, no = single_token_ids(tok, YES_FORMS), single_token_ids(tok, NO_FORMS)
    for i, text in enumerate(judge.prompts(requests, replies)):
        tokens, mask = tokenize_prompts(tok, [text], n_ctx=256)
        with torch.no_grad():
            lp = judge_model(tokens, attention_mask=mask)[0, -1].log_softmax(-1)
        expected = torch.sigmoid(lp[yes].logsumexp(-1) - lp[no].logsumexp(-1))
        assert float(scores[i]) == pytest.approx(float(expected), abs=1e-5)
    flipped = JudgeScorer(judge_model, refusal_answer="no").scores(requests, replies)
    assert torch.allclose(flipped, 1 - scores, atol=1e-6)  # the other polarity
    cached = list(tmp_path.glob("judge-*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["n"] == 3
    cached[0].write_text(json.dumps({"scores": [0.25, 0.5, 0.75], "n": 3}))
    assert judge.scores(requests, replies).tolist() == [0.25, 0.5, 0.75]  # served from disk


def test_judge_refuses_a_tokenizer_without_yes_no(micro):
    with pytest.raises(ValueError, match="yes"):
        JudgeScorer(micro.model)


def test_token_mass_is_the_refusal_probability_mass(micro):
    requests = [
        "What is the first item in the list: pear, plum, fig?",
        "Tell me about your family.",
    ]
    scores = TokenMassScorer(micro.model).scores(requests, ["", ""])
    model = micro.model
    ids = token_ids(model.tokenizer)
    for text, score in zip(requests, scores, strict=True):
        tokens, mask = tokenize_prompts(model.tokenizer, [text], n_ctx=model.cfg.n_ctx)
        with torch.no_grad():
            probs = model(tokens, attention_mask=mask)[0, -1].softmax(-1)
        assert float(score) == pytest.approx(
            float(sum(probs[ids[c]] for c in CATEGORIES)), abs=1e-5
        )


def test_rescore_changes_every_metric_through_the_scorer():
    def answer(kind, first, text, correct=None):
        p = Prompt(
            prompt=f"{kind} {text}", kind=kind, category="safety" if kind != "benign" else None
        )
        return ScoredAnswer(prompt=p, first_token=first, text=text, refused=False, correct=correct)

    answers = [
        answer("harmful", "", "I'm sorry, I won't help."),
        answer("harmful", "", "Sure, here it is."),
        answer("contrast", "", "I cannot do that."),
        answer("benign", "", "I am unable to answer.", correct=True),
    ]
    rescored = summarize(rescore(answers, PatternScorer()))
    assert rescored.harmful_refusal["all"].value == 0.5
    assert rescored.over_refusal["contrast"].value == 1.0
    assert rescored.capability.value == 0.0  # a refused benign answer is not a correct one
