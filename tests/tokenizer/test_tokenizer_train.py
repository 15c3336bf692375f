"""Training from streamed pieces: the same tokenizer as from the joined text, whatever the cut."""

from __future__ import annotations

import random

import pytest

from gptlab.errors import TokenizerError
from gptlab.tokenizer import train_tokenizer
from tests.helpers import tokenizer_config
from gptlab.tokenizer import bpe as bpe_module


def _random_cuts(text: str, n: int, seed: int) -> list[str]:
    cuts = sorted(random.Random(seed).sample(range(1, len(text)), n))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]


@pytest.mark.parametrize("kind", ["char", "bpe"])
@pytest.mark.parametrize("seed", [0, 1])
def test_pieces_give_the_same_tokenizer_as_the_joined_text(corpus: str, kind: str, seed: int, monkeypatch) -> None:
    # A small chunk size so the BPE re-chunking really cuts the text many times, also
    # inside pieces and across piece boundaries.
    monkeypatch.setattr(bpe_module, "_TRAIN_CHUNK", 500)
    cfg = tokenizer_config(kind, vocab_size=300, min_frequency=2)
    whole = train_tokenizer(cfg, corpus).to_json()
    pieces = _random_cuts(corpus, 40, seed)
    assert train_tokenizer(cfg, iter(pieces)).to_json() == whole
    assert train_tokenizer(cfg, ["", *pieces, ""]).to_json() == whole


def test_line_chunks_cut_after_a_newline_only(monkeypatch) -> None:
    monkeypatch.setattr(bpe_module, "_TRAIN_CHUNK", 10)
    text = "".join(f"line {i} of the text\n" for i in range(50)) + "no newline at the end"
    chunks = list(bpe_module._line_chunks(_random_cuts(text, 30, 3)))
    assert "".join(chunks) == text
    assert all(c.endswith("\n") and len(c) > 10 for c in chunks[:-1])
    assert chunks[-1].endswith("the end")


def test_line_chunks_never_split_a_long_line(monkeypatch) -> None:
    monkeypatch.setattr(bpe_module, "_TRAIN_CHUNK", 10)
    text = "x" * 1000 + "\n" + "y" * 5
    assert list(bpe_module._line_chunks(_random_cuts(text, 20, 4))) == ["x" * 1000 + "\n", "y" * 5]


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_only_empty_pieces_is_the_empty_text_error(kind: str) -> None:
    with pytest.raises(TokenizerError, match="empty"):
        train_tokenizer(tokenizer_config(kind), ["", ""])
    with pytest.raises(TokenizerError, match="empty"):
        train_tokenizer(tokenizer_config(kind), iter([]))


@pytest.mark.parametrize("bad", [b"bytes", 42, ["ok", 7]])
def test_non_text_is_a_type_error(bad) -> None:
    with pytest.raises(TypeError, match="str"):
        train_tokenizer(tokenizer_config("char"), bad)


def test_a_surrogate_in_a_later_piece_is_named(corpus: str) -> None:
    with pytest.raises(TokenizerError, match="surrogate"):
        train_tokenizer(tokenizer_config("bpe", vocab_size=300), [corpus, "ok\ud800"])
