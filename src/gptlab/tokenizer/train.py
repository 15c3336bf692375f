"""Train a tokenizer of the configured kind on the training split's text."""

from __future__ import annotations

from gptlab.errors import TokenizerError
from gptlab.tokenizer.base import Tokenizer
from gptlab.tokenizer.config import TokenizerConfig


def train_tokenizer(cfg: TokenizerConfig, text: str) -> Tokenizer:
    """Fit ``cfg.kind`` on ``text``. Deterministic: the same text and config give the same file."""
    if not isinstance(text, str):
        raise TypeError(f"train_tokenizer takes the training text as a str, not {type(text).__name__}")
    if not text:
        # Only the validation/test text would then decide what is "unseen"; fail early.
        raise TokenizerError("cannot train a tokenizer on empty text: the training split is empty")
    if cfg.kind == "char":
        from gptlab.tokenizer.char import train_char

        return train_char(cfg, text)
    from gptlab.tokenizer.bpe import train_bpe

    return train_bpe(cfg, text)
