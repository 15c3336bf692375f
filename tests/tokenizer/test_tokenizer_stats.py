from __future__ import annotations

import pytest

from gptlab.tokenizer import tokenizer_stats, train_tokenizer
from tests.helpers import tokenizer_config


def test_char_stats(corpus: str) -> None:
    tok = train_tokenizer(tokenizer_config("char"), corpus)
    stats = tokenizer_stats(tok, corpus)
    assert stats == {
        "kind": "char",
        "vocab_size": tok.vocab_size,
        "characters": len(corpus),
        "tokens": len(corpus),
        "chars_per_token": 1.0,
    }


def test_bpe_stats(corpus: str) -> None:
    tok = train_tokenizer(tokenizer_config("bpe", vocab_size=300), corpus)
    stats = tokenizer_stats(tok, corpus)
    assert stats["kind"] == "bpe"
    assert stats["tokens"] == len(tok.encode(corpus))
    assert stats["characters"] == len(corpus)
    assert stats["chars_per_token"] == pytest.approx(len(corpus) / stats["tokens"])
    assert stats["chars_per_token"] > 1.0


def test_empty_sample(corpus: str) -> None:
    tok = train_tokenizer(tokenizer_config("char"), corpus)
    assert tokenizer_stats(tok, "")["chars_per_token"] == 0.0
