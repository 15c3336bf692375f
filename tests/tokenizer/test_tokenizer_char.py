from __future__ import annotations

import numpy as np
import pytest

from gptlab.errors import TokenizerError
from gptlab.tokenizer import train_tokenizer
from tests.helpers import tokenizer_config


def test_vocab_is_specials_then_sorted_chars() -> None:
    tok = train_tokenizer(tokenizer_config("char"), "hello world")
    assert tok.kind == "char"
    assert tok.special_tokens == {"<|endoftext|>": 0, "<unk>": 1, "<pad>": 2, "<bos>": 3, "<eos>": 4}
    assert tok.eot_id == 0
    chars = sorted(set("hello world"))
    assert tok.vocab_size == 5 + len(chars)
    assert tok.encode("".join(chars)) == list(range(5, 5 + len(chars)))
    assert tok.encode("") == []


def test_custom_specials_take_lowest_ids_in_order() -> None:
    tok = train_tokenizer(tokenizer_config("char", unk_policy="error", special_tokens=("<pad>", "<|endoftext|>")), "ab")
    assert tok.special_tokens == {"<pad>": 0, "<|endoftext|>": 1}
    assert tok.eot_id == 1
    assert tok.encode("ab") == [2, 3]


def test_no_eot_token_means_no_eot_id() -> None:
    tok = train_tokenizer(tokenizer_config("char", unk_policy="error", special_tokens=("<pad>",)), "ab")
    assert tok.eot_id is None


def test_round_trip(corpus: str) -> None:
    tok = train_tokenizer(tokenizer_config("char"), corpus)
    assert tok.decode(tok.encode(corpus)) == corpus


def test_special_text_is_not_parsed() -> None:
    tok = train_tokenizer(tokenizer_config("char"), "<unk> <|endoftext|>")
    ids = tok.encode("<unk><|endoftext|>")
    assert len(ids) == len("<unk><|endoftext|>")
    assert not set(ids) & set(tok.special_tokens.values())
    assert tok.decode(ids) == "<unk><|endoftext|>"


def test_decode_specials() -> None:
    tok = train_tokenizer(tokenizer_config("char"), "ab")
    assert tok.decode([5, tok.special_tokens["<unk>"], 6]) == "a\ufffdb"
    assert tok.decode([5, tok.eot_id, 6]) == "a<|endoftext|>b"
    assert tok.decode([tok.special_tokens["<pad>"]]) == "<pad>"


def test_decode_rejects_out_of_range_ids() -> None:
    tok = train_tokenizer(tokenizer_config("char"), "ab")
    for bad in ([tok.vocab_size], [-1]):
        with pytest.raises(TokenizerError, match="outside the vocabulary"):
            tok.decode(bad)


def test_decode_accepts_numpy() -> None:
    tok = train_tokenizer(tokenizer_config("char"), "abc")
    assert tok.decode(np.array(tok.encode("cab"), dtype=np.int32)) == "cab"


def test_unseen_char_error_names_char_and_offset() -> None:
    tok = train_tokenizer(tokenizer_config("char", unk_policy="error"), "abc")
    with pytest.raises(TokenizerError, match=r"'z' \(U\+007A\) at offset 2 ") as info:
        tok.encode("abzz\n")
    assert "\n" not in str(info.value)


def test_unseen_char_error_in_batch_names_text() -> None:
    tok = train_tokenizer(tokenizer_config("char", unk_policy="error"), "abc")
    with pytest.raises(TokenizerError, match=r"'é' \(U\+00E9\) at offset 1 of text 2"):
        tok.encode_array(["abc", "cc", "aé"])


def test_unseen_char_replaced_with_unk() -> None:
    tok = train_tokenizer(tokenizer_config("char", unk_policy="replace"), "abc")
    unk = tok.special_tokens["<unk>"]
    ids = tok.encode("a🎉c\U0010ffff")
    assert ids == [5, unk, 7, unk]
    assert tok.decode(ids) == "a\ufffdc\ufffd"


def test_encode_array_is_flat_int64_concatenation(corpus: str) -> None:
    tok = train_tokenizer(tokenizer_config("char"), corpus)
    texts = [corpus[:100], "", corpus[100:250], corpus[-7:]]
    arr = tok.encode_array(texts)
    assert arr.dtype == np.int64 and arr.ndim == 1
    assert arr.tolist() == [i for t in texts for i in tok.encode(t)]
    assert tok.encode_array([]).tolist() == []


def test_lone_surrogates_are_characters() -> None:
    text = "a\ud800b"
    tok = train_tokenizer(tokenizer_config("char"), text)
    assert tok.decode(tok.encode(text)) == text


def test_training_is_deterministic(corpus: str) -> None:
    cfg = tokenizer_config("char")
    assert train_tokenizer(cfg, corpus).to_json() == train_tokenizer(cfg, corpus[::-1]).to_json()


def test_empty_training_text_is_an_error() -> None:
    with pytest.raises(TokenizerError, match="empty"):
        train_tokenizer(tokenizer_config("char"), "")


def test_encode_array_on_a_large_text_round_trips() -> None:
    # Its speed is the build benchmark's business (bench/bench_build.py), not a test's.
    text = ("The quick brown fox jumps over the lazy dog; ÆØÅ 日本 🎉\n" * 200_000)[:10_000_000]
    tok = train_tokenizer(tokenizer_config("char"), text)
    ids = tok.encode_array([text])
    assert ids.size == len(text)
    assert ids[:1000].tolist() == tok.encode(text[:1000])
    assert tok.decode(ids.tolist()) == text
