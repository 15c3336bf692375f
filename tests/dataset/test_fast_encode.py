"""The build stage's fast encoders give the tokenizer's ids, or leave the text to it."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gptlab.dataset.fast_encode import ByteTableEncoder, TiktokenEncoder, fast_encoder
from gptlab.errors import TokenizerError
from gptlab.tokenizer import train_tokenizer
from gptlab.tokenizer.bpe import BpeTokenizer
from gptlab.tokenizer.char import CharTokenizer
from tests.helpers import SMALL_CORPUS, tokenizer_config


@pytest.fixture(scope="module")
def bpe():
    return train_tokenizer(tokenizer_config("bpe", vocab_size=400), SMALL_CORPUS + " 1234  🎉 <|endoftext|>\n" * 5)


@settings(deadline=None, max_examples=50)
@given(texts=st.lists(st.text(max_size=40) | st.sampled_from(["Romeo", " 12", "  ", "<|endoftext|>", "🎉"]), max_size=12))
def test_tiktoken_encodes_a_batch_in_order(bpe, texts):
    encoder = fast_encoder(bpe)
    assert isinstance(encoder, TiktokenEncoder) and (encoder.kind, encoder.vocab_size) == ("bpe", bpe.vocab_size)
    assert encoder.encode_array(texts).tolist() == bpe.encode_array(texts).tolist()


def test_a_lone_surrogate_gets_the_tokenizers_error(bpe):
    with pytest.raises(TokenizerError, match="surrogate"):
        fast_encoder(bpe).encode_array(["ok", "a\udfff"])


def test_a_bpe_tiktoken_cannot_reproduce_keeps_tokenizers_and_says_so_once(bpe, caplog):
    """A Llama-3 style pre-tokenizer (Split, then ByteLevel without its regex): not tiktoken's."""
    data = bpe.to_dict()
    data["tokenizer"]["pre_tokenizer"] = {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": r"\p{N}{1,3}|\S+|\s+"}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        ],
    }
    tokenizer = BpeTokenizer.from_dict(data)
    with caplog.at_level(logging.INFO, logger="gptlab.dataset.fast_encode"):
        assert fast_encoder(tokenizer) is tokenizer
    (line,) = [r.getMessage() for r in caplog.records]
    assert "tokenizers, not tiktoken" in line and "pre-tokenizer" in line


@settings(deadline=None, max_examples=200)
@given(texts=st.lists(st.text(st.characters(max_codepoint=0x2FF)), max_size=3), policy=st.sampled_from(["error", "replace"]))
def test_the_byte_table_gives_the_tokenizers_ids_or_its_error(texts, policy):
    tokenizer = CharTokenizer(list("\n abcé\xff"), ["<|endoftext|>", "<unk>"], policy)
    encoder = fast_encoder(tokenizer)
    assert isinstance(encoder, ByteTableEncoder) and (encoder.kind, encoder.vocab_size) == ("char", tokenizer.vocab_size)
    try:
        want = tokenizer.encode_array(texts)
    except TokenizerError as e:
        with pytest.raises(TokenizerError, match=re.escape(str(e))):
            encoder.encode_array(texts)
    else:
        assert encoder.encode_array(texts).tolist() == want.tolist()


def test_one_byte_characters_whose_ids_do_not_fit_a_byte_keep_the_tokenizer():
    tokenizer = CharTokenizer([chr(c) for c in range(256)], ["<|endoftext|>"])
    assert fast_encoder(tokenizer) is tokenizer
    assert np.array_equal(tokenizer.encode_array(["a\xff"]), [98, 256])
