from __future__ import annotations

import json

import numpy as np
import pytest

from gptlab.errors import TokenizerError
from gptlab.tokenizer import Tokenizer, train_tokenizer
from tests.helpers import tokenizer_config


@pytest.fixture(scope="module")
def bpe(corpus: str) -> Tokenizer:
    return train_tokenizer(tokenizer_config("bpe", vocab_size=300, min_frequency=2), corpus)


def test_specials_and_eot(bpe: Tokenizer) -> None:
    assert bpe.kind == "bpe"
    assert bpe.special_tokens == {"<|endoftext|>": 0, "<unk>": 1, "<pad>": 2, "<bos>": 3, "<eos>": 4}
    assert bpe.eot_id == 0


@pytest.mark.parametrize("vocab_size", [261, 300, 400])
def test_vocab_size_honored(corpus: str, vocab_size: int) -> None:
    tok = train_tokenizer(tokenizer_config("bpe", vocab_size=vocab_size), corpus)
    assert 261 <= tok.vocab_size <= vocab_size
    vocab = json.loads(tok.to_json())["tokenizer"]["model"]["vocab"]
    # Ids are dense, so every id below vocab_size decodes and a model's embedding fits.
    assert sorted(vocab.values()) == list(range(tok.vocab_size))


def test_learns_merges(bpe: Tokenizer, corpus: str) -> None:
    assert bpe.vocab_size > 261
    assert len(bpe.encode(corpus)) < len(corpus.encode("utf-8"))


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "  leading and trailing  ",
        "\n\n\tmixed\r\nwhitespace \u00a0\u2003",
        "unseen: ქართული ✓ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \U0010ffff \x00",
        "e\u0301 vs \u00e9",  # no normalization: both spellings survive
        "don't  , .  spaces before punctuation ,",
    ],
)
def test_round_trip_exact(bpe: Tokenizer, text: str) -> None:
    assert bpe.decode(bpe.encode(text)) == text


@pytest.mark.parametrize("special", ["<|endoftext|>", "<unk>", "<pad>", "<bos>", "<eos>"])
def test_special_text_in_input_is_literal(bpe: Tokenizer, special: str) -> None:
    text = f"a{special}b {special}"
    ids = bpe.encode(text)
    assert not set(ids) & set(bpe.special_tokens.values())
    assert bpe.decode(ids) == text


def test_decode_special_ids(bpe: Tokenizer) -> None:
    ab = bpe.encode("ab")
    assert bpe.decode(ab + [bpe.eot_id] + ab) == "ab<|endoftext|>ab"
    assert bpe.decode([bpe.special_tokens["<pad>"]]) == "<pad>"


def test_non_ascii_special_decodes_as_text(corpus: str) -> None:
    tok = train_tokenizer(tokenizer_config("bpe", vocab_size=300, special_tokens=("<|endoftext|>", "« fin »")), corpus)
    ids = tok.encode("x") + [tok.special_tokens["« fin »"]] + tok.encode("y")
    assert tok.decode(ids) == "x« fin »y"


def test_decode_rejects_out_of_range_ids(bpe: Tokenizer) -> None:
    with pytest.raises(TokenizerError, match="outside the vocabulary"):
        bpe.decode([bpe.vocab_size])
    with pytest.raises(TokenizerError, match="outside the vocabulary"):
        bpe.decode([-1])


def test_encode_array_is_flat_int64_concatenation(bpe: Tokenizer, corpus: str) -> None:
    texts = [corpus[:300], "", corpus[300:1000], " tail "]
    arr = bpe.encode_array(texts)
    assert arr.dtype == np.int64 and arr.ndim == 1
    assert arr.tolist() == [i for t in texts for i in bpe.encode(t)]
    assert bpe.encode_array([]).dtype == np.int64
    assert bpe.encode_array([]).size == 0


def test_lone_surrogate_is_a_clear_error(bpe: Tokenizer) -> None:
    with pytest.raises(TokenizerError, match="surrogate.*offset 1"):
        bpe.encode("a\ud800")
    with pytest.raises(TokenizerError, match="text 1"):
        bpe.encode_array(["ok", "a\udfff"])


def test_training_is_deterministic(corpus: str) -> None:
    cfg = tokenizer_config("bpe", vocab_size=320)
    assert train_tokenizer(cfg, corpus).to_json() == train_tokenizer(cfg, corpus).to_json()


def test_training_text_without_newlines(corpus: str) -> None:
    text = corpus.replace("\n", " ") * 20  # one long line, bigger than a training chunk
    tok = train_tokenizer(tokenizer_config("bpe", vocab_size=300), text)
    assert tok.decode(tok.encode(text)) == text
