import pytest

from mechrefusal.categories import (
    CATEGORIES,
    REFUSAL_TOKENS,
    RESPOND_TOKEN,
    parse_category,
    token_ids,
)


def test_token_strings_are_the_published_ones():
    assert REFUSAL_TOKENS["safety"] == "[Requests with safety concerns]"
    assert REFUSAL_TOKENS["incomplete"] == "[Incomplete requests]"
    assert RESPOND_TOKEN == "[respond]"
    assert set(REFUSAL_TOKENS) == set(CATEGORIES)


@pytest.mark.parametrize(
    "name", ["Safety", "[Requests with safety concerns]", "safety concerns", " humanizing "]
)
def test_parse_category_accepts_display_forms(name):
    assert parse_category(name) in CATEGORIES


def test_parse_category_suggests_fix():
    with pytest.raises(
        ValueError, match=r"Unknown category 'safty'.*Did you mean 'safety'.*Valid categories"
    ):
        parse_category("safty")


def test_token_ids_single_tokens(tiny_tokenizer):
    ids = token_ids(tiny_tokenizer)
    assert len(set(ids.values())) == 6


def test_token_ids_error_without_refusal_tokens():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel({"[": 0, "a": 1, "<unk>": 2}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=core)
    with pytest.raises(ValueError, match="not a single token"):
        token_ids(tok)
