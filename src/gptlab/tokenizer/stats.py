"""Summary numbers for a tokenizer on a sample of text (logged as metrics)."""

from __future__ import annotations

from typing import Any

from gptlab.tokenizer.base import Tokenizer


def tokenizer_stats(tok: Tokenizer, text: str) -> dict[str, Any]:
    """Encode ``text`` and report how much it compresses.

    ``chars_per_token`` is 0.0 for empty text. The whole text is encoded, so pass a
    bounded sample of a huge corpus.
    """
    tokens = int(tok.encode_array([text]).size)
    characters = len(text)
    return {
        "kind": tok.kind,
        "vocab_size": int(tok.vocab_size),
        "characters": characters,
        "tokens": tokens,
        "chars_per_token": characters / tokens if tokens else 0.0,
    }
