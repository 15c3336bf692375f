"""Property tests: round trips and batch/single agreement on generated text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gptlab.tokenizer import Tokenizer, train_tokenizer
from tests.helpers import tokenizer_config

SPECIAL_TEXTS = st.sampled_from(["<|endoftext|>", "<unk>", "<pad>", "<bos>", "<eos>", "<|", "|>"])


@pytest.fixture(scope="module")
def bpe(corpus: str) -> Tokenizer:
    return train_tokenizer(tokenizer_config("bpe", vocab_size=300), corpus)


@pytest.fixture(scope="module")
def char(corpus: str) -> Tokenizer:
    return train_tokenizer(tokenizer_config("char", unk_policy="error"), corpus)


@pytest.fixture(scope="module")
def char_replace(corpus: str) -> Tokenizer:
    return train_tokenizer(tokenizer_config("char", unk_policy="replace"), corpus)


@settings(deadline=None, max_examples=200)
@given(text=st.text())
def test_bpe_round_trip_any_text(bpe: Tokenizer, text: str) -> None:
    assert bpe.decode(bpe.encode(text)) == text


@settings(deadline=None, max_examples=100)
@given(parts=st.lists(st.one_of(st.text(max_size=8), SPECIAL_TEXTS), max_size=8))
def test_bpe_round_trip_with_special_text(bpe: Tokenizer, parts: list[str]) -> None:
    text = "".join(parts)
    ids = bpe.encode(text)
    assert bpe.decode(ids) == text
    assert not set(ids) & set(bpe.special_tokens.values())


@settings(deadline=None, max_examples=100)
@given(texts=st.lists(st.text(max_size=40), max_size=6))
def test_bpe_encode_array_matches_encode(bpe: Tokenizer, texts: list[str]) -> None:
    assert bpe.encode_array(texts).tolist() == [i for t in texts for i in bpe.encode(t)]


def _byte_of_symbol() -> dict[str, int]:
    """Byte-level BPE's alphabet: printable Latin-1 bytes stand for themselves, the
    other 68 bytes for chr(256), chr(257), ... in byte order."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    others = [b for b in range(256) if b not in printable]
    return {chr(b): b for b in printable} | {chr(256 + n): b for n, b in enumerate(others)}


@pytest.fixture(scope="module")
def bpe_token_bytes(bpe: Tokenizer) -> dict[int, bytes]:
    """The bytes each ordinary BPE id stands for, read from the saved vocabulary."""
    byte_of = _byte_of_symbol()
    vocab = bpe.to_dict()["tokenizer"]["model"]["vocab"]
    specials = set(bpe.special_tokens.values())
    return {i: bytes(byte_of[c] for c in token) for token, i in vocab.items() if i not in specials}


@settings(deadline=None, max_examples=200)
@given(ids=st.lists(st.integers(min_value=0, max_value=299), max_size=30))
def test_bpe_decodes_any_valid_ids(bpe: Tokenizer, bpe_token_bytes: dict[int, bytes], ids: list[int]) -> None:
    # Any id sequence, even one encode() never produces (a multi-byte character cut in
    # two, ids in a non-canonical order), decodes to its bytes read as UTF-8, invalid
    # sequences replaced; special ids to their token text, exactly where they stand.
    ids = [i for i in ids if i < bpe.vocab_size]
    special_text = {i: t for t, i in bpe.special_tokens.items()}
    expected, run = "", b""
    for i in ids:
        if i in special_text:
            expected += run.decode("utf-8", errors="replace") + special_text[i]
            run = b""
        else:
            run += bpe_token_bytes[i]
    expected += run.decode("utf-8", errors="replace")
    text = bpe.decode(ids)
    assert text == expected
    # ...and that text is valid Unicode the tokenizer reproduces exactly.
    assert bpe.decode(bpe.encode(text)) == text


@settings(deadline=None, max_examples=200)
@given(data=st.data())
def test_char_round_trip_seen_alphabet(char: Tokenizer, corpus: str, data: st.DataObject) -> None:
    text = data.draw(st.text(alphabet=sorted(set(corpus))))
    ids = char.encode(text)
    assert len(ids) == len(text)
    assert char.decode(ids) == text


@settings(deadline=None, max_examples=200)
@given(text=st.text())
def test_char_replace_maps_unseen_to_replacement_char(char_replace: Tokenizer, corpus: str, text: str) -> None:
    seen = set(corpus)
    expected = "".join(c if c in seen else "\ufffd" for c in text)
    assert char_replace.decode(char_replace.encode(text)) == expected


@settings(deadline=None, max_examples=100)
@given(data=st.data())
def test_char_encode_array_matches_encode(char: Tokenizer, corpus: str, data: st.DataObject) -> None:
    texts = data.draw(st.lists(st.text(alphabet=sorted(set(corpus)), max_size=40), max_size=6))
    assert char.encode_array(texts).tolist() == [i for t in texts for i in char.encode(t)]
