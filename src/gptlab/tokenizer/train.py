"""Train a tokenizer of the configured kind on the training split's text."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

from gptlab.errors import TokenizerError
from gptlab.tokenizer.base import Tokenizer
from gptlab.tokenizer.config import TokenizerConfig


def train_tokenizer(cfg: TokenizerConfig, text: str | Iterable[str]) -> Tokenizer:
    """Fit ``cfg.kind`` on ``text``. Deterministic: the same text and config give the same file.

    ``text`` is one string or an iterable of consecutive pieces of it (e.g. chunks read
    from a file): pieces are consumed once, so the whole text never has to be in memory,
    and any cut into pieces gives the same tokenizer as the joined string.
    """
    pieces = _non_empty(text)
    first = next(pieces, None)
    if first is None:
        # Only the validation/test text would then decide what is "unseen"; fail early.
        raise TokenizerError("cannot train a tokenizer on empty text: the training split is empty")
    stream = itertools.chain((first,), pieces)
    if cfg.kind == "char":
        from gptlab.tokenizer.char import train_char

        return train_char(cfg, stream)
    from gptlab.tokenizer.bpe import train_bpe

    return train_bpe(cfg, stream)


def _non_empty(text: str | Iterable[str]) -> Iterator[str]:
    if isinstance(text, str):
        if text:
            yield text
        return
    if isinstance(text, (bytes, bytearray)) or not isinstance(text, Iterable):
        raise TypeError(f"train_tokenizer takes the training text as a str or pieces of str, not {type(text).__name__}")
    for index, piece in enumerate(text):
        if not isinstance(piece, str):
            raise TypeError(f"training text piece {index} is {type(piece).__name__}, not str")
        if piece:
            yield piece
