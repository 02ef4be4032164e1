"""The five CoCoNot refusal categories and their refusal-token strings (docs/method.md, "Vocabulary").

This module is the only place that names the token strings; token ids are looked up from the
tokenizer at load time (`token_ids`). The strings are exactly those of the published
refusal-token Llama-3 model, so the organism and the real model read the same.
"""

import difflib
from typing import Literal, get_args

Category = Literal["incomplete", "unsupported", "indeterminate", "humanizing", "safety"]
CATEGORIES: tuple[Category, ...] = get_args(Category)

REFUSAL_TOKENS: dict[Category, str] = {
    "incomplete": "[Incomplete requests]",
    "unsupported": "[Unsupported requests]",
    "indeterminate": "[Indeterminate requests]",
    "humanizing": "[Humanizing requests]",
    "safety": "[Requests with safety concerns]",
}
RESPOND_TOKEN = "[respond]"

DISPLAY_NAMES: dict[Category, str] = {
    "incomplete": "Incomplete",
    "unsupported": "Unsupported",
    "indeterminate": "Indeterminate",
    "humanizing": "Humanizing",
    "safety": "Safety concerns",
}

_ALIASES: dict[str, Category] = {
    "safety concerns": "safety",
    "requests with safety concerns": "safety",
    "incomplete requests": "incomplete",
    "unsupported requests": "unsupported",
    "indeterminate requests": "indeterminate",
    "humanizing requests": "humanizing",
}


def parse_category(name: str) -> Category:
    """Turn a user-supplied name (any case, display name or token string) into a Category.

    Raises:
        ValueError: unknown name; the message suggests the closest category and lists all.
    """
    key = name.strip().strip("[]").lower()
    if key in CATEGORIES:
        return key  # type: ignore[return-value]
    if key in _ALIASES:
        return _ALIASES[key]
    close = difflib.get_close_matches(key, list(CATEGORIES) + list(_ALIASES), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown category {name!r}.{hint} Valid categories: {', '.join(CATEGORIES)}.")


def all_special_token_strings() -> list[str]:
    """The six added tokens (five refusal tokens, then `[respond]`), in CATEGORIES order."""
    return [REFUSAL_TOKENS[c] for c in CATEGORIES] + [RESPOND_TOKEN]


def token_ids(tokenizer) -> dict[str, int]:
    """Map every category (and "respond") to its single token id in this tokenizer.

    Raises:
        ValueError: a token string is missing or is not a single token, which means the model
            was not trained with refusal tokens (use the string-pattern detector instead).
    """
    ids: dict[str, int] = {}
    for key, text in [*REFUSAL_TOKENS.items(), ("respond", RESPOND_TOKEN)]:
        encoded = tokenizer.encode(text, add_special_tokens=False)
        if len(encoded) != 1:
            raise ValueError(
                f"Token {text!r} is not a single token in this tokenizer (got {len(encoded)} "
                "pieces): the model has no refusal tokens. Use a refusal-token model, or the "
                "string-pattern refusal detector for ordinary chat models."
            )
        ids[key] = encoded[0]
    return ids


def has_refusal_tokens(tokenizer) -> bool:
    """True when every refusal token is a single token of this tokenizer."""
    try:
        token_ids(tokenizer)
    except ValueError:
        return False
    return True
