"""The organism's tokenizer: byte-level BPE (HF `tokenizers`) with the refusal tokens added.

Byte-level BPE never produces an unknown token, so prompts with words the organism never saw
still tokenize. The six refusal tokens and the Llama-3 chat markers are single special tokens,
and the tokenizer carries a Llama-3-style chat template, so the organism is formatted exactly
as the real refusal-token model is.
"""

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from mechrefusal.categories import all_special_token_strings

BOS, EOS, PAD = "<|begin_of_text|>", "<|eot_id|>", "<|pad|>"
HEADER_START, HEADER_END, END_OF_TEXT = (
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|end_of_text|>",
)
CONTROL_TOKENS = [BOS, END_OF_TEXT, PAD, HEADER_START, HEADER_END, EOS]

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{{ message['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def train_tokenizer(texts: Iterable[str], *, vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts` and wrap it as a transformers fast tokenizer."""
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    specials = CONTROL_TOKENS + all_special_token_strings()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    return wrap_tokenizer(core)


def wrap_tokenizer(core: Tokenizer) -> PreTrainedTokenizerFast:
    """Wrap a raw `tokenizers.Tokenizer` with our special tokens and chat template."""
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[
            HEADER_START,
            HEADER_END,
            END_OF_TEXT,
            *all_special_token_strings(),
        ],
        padding_side="left",
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, directory: str | Path) -> None:
    """Save as tokenizer.json + tokenizer_config.json (no pickle)."""
    tokenizer.save_pretrained(str(directory))


def load_tokenizer(directory: str | Path) -> PreTrainedTokenizerFast:
    """Load a saved organism tokenizer, with a clear error if it is missing."""
    path = Path(directory) / "tokenizer.json"
    if not path.exists():
        raise ValueError(
            f"No tokenizer at {path}. Train the organism or point at a model directory."
        )
    tok = PreTrainedTokenizerFast.from_pretrained(str(directory))
    tok.padding_side = "left"
    if not tok.chat_template:
        tok.chat_template = CHAT_TEMPLATE
    return tok


def attach_tokenizer(model, tokenizer) -> None:
    """Give a HookedTransformer its tokenizer without TL's `set_tokenizer`.

    TL's `set_tokenizer` re-loads the tokenizer by name to force BOS prepending, which needs
    the hub for HF ids and fails for in-memory tokenizers. Our inputs carry BOS in the
    formatted text, so the tokenizer is attached as-is, left-padding by default.
    """
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.tokenizer = tokenizer
    model.cfg.tokenizer_prepends_bos = len(tokenizer.encode("")) > 0
