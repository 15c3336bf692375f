"""tiktoken stands in for a byte-level BPE only where it gives exactly the ids ``tokenizers`` gives."""

from __future__ import annotations

import json
import sys

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from gptlab.tokenizer import train_tokenizer
from gptlab.tokenizer.bpe import BpeTokenizer
from gptlab.tokenizer.tiktoken_bpe import _byte_symbols, tiktoken_encoding
from tests.helpers import tokenizer_config

# Shapes the GPT-2 split treats specially, to be joined in any order.
_ATOMS = [
    " ", "  ", "   ", "\n", "\n\n", "\t", "\r\n", " \n ", "\xa0", "\u2003", "\u3000", "\x85", "\u180e", "\u200b",
    "0", "12", "345", " 6789", " 1234567890", "½", "٣", "Ⅻ", "🎉", "👍🏽", "👨‍👩‍👧", "\ufe0f", "é", "e\u0301", "日本語", "Ελληνικά",
    "<|endoftext|>", "<unk>", "<pad>", "<|", "|>", "'s", "'ll", "'re", "'S", "don't", "The", " the", " quick",
    "!!", " ?!", "--", "...", "\x00", "\x7f", "\U0010ffff", "\ue000", "\U0002ebf0", "xxxxxxxx", "=" * 40,
]  # fmt: skip
TEXTS = st.text() | st.lists(st.sampled_from(_ATOMS) | st.text(max_size=3), max_size=30).map("".join)


def _trained(corpus: str, vocab_size: int) -> tuple[BpeTokenizer, tiktoken.Encoding]:
    # Extra text so merges cover whitespace runs, digits, emoji, special-looking text and
    # long tokens (runs of one character).
    extra = "".join(_ATOMS) * 8 + "  \n\n   1234 5678 <|endoftext|> 🎉🎉 \n" * 8 + "x" * 5000 + " " * 3000
    tok = train_tokenizer(tokenizer_config("bpe", vocab_size=vocab_size), corpus + extra)
    encoding, why = tiktoken_encoding(tok.to_dict()["tokenizer"])
    assert encoding is not None, why
    return tok, encoding


@pytest.fixture(scope="module", params=[300, 1000])
def trained(corpus, request):
    return _trained(corpus, request.param)


def _ids(encoding: tiktoken.Encoding, text: str) -> list[int]:
    return encoding.encode_to_numpy(text, disallowed_special=()).tolist()


def test_byte_symbols_are_the_byte_level_alphabet():
    from tokenizers import pre_tokenizers

    symbols = _byte_symbols()
    assert set(symbols.values()) == set(pre_tokenizers.ByteLevel.alphabet())
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    for text in ("A ~", "é日🎉", "\x00\x1f\x7f\xa0\xad"):
        ((piece, _),) = pre.pre_tokenize_str(text)
        assert piece == "".join(symbols[b] for b in text.encode("utf-8"))


@settings(deadline=None, max_examples=300)
@given(text=TEXTS)
def test_tiktoken_gives_the_ids_tokenizers_gives(trained, text):
    bpe, encoding = trained
    assert _ids(encoding, text) == bpe.encode(text)


def test_special_token_text_is_ordinary_bytes(trained):
    bpe, encoding = trained
    text = "a <|endoftext|> b<unk><|endoftext|>"
    assert _ids(encoding, text) == bpe.encode(text) and bpe.eot_id not in _ids(encoding, text)


def _byte_level(vocab: dict[str, int], merges: list[tuple[str, str]]) -> dict:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    return json.loads(tok.to_str())


def test_merges_tiktoken_would_not_follow_keep_tokenizers():
    """'abc' is made of 'ab'+'c', but 'bc' merges first: tokenizers stops at a+bc, tiktoken does not."""
    from tokenizers import Tokenizer

    alphabet = _byte_symbols()
    vocab = {s: b for b, s in alphabet.items()} | {"bc": 256, "ab": 257, "abc": 258}
    data = _byte_level(vocab, [("b", "c"), ("a", "b"), ("ab", "c")])
    ranks = {bytes([b]): b for b in alphabet} | {b"bc": 256, b"ab": 257, b"abc": 258}
    naive = tiktoken.Encoding("naive", pat_str=r"\S+", mergeable_ranks=ranks, special_tokens={})
    assert Tokenizer.from_str(json.dumps(data)).encode("abc").ids == [ord("a"), 256]
    assert naive.encode_ordinary("abc") == [258]  # so the check below is needed
    enc, why = tiktoken_encoding(data)
    assert enc is None and "b'abc'" in why


def _split_pre_tokenizer(data: dict) -> None:
    """Llama-3 style: a Split, then ByteLevel without its own regex."""
    data["pre_tokenizer"] = {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": r"\p{N}{1,3}|\S+|\s+"}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        ],
    }


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (_split_pre_tokenizer, "pre-tokenizer"),
        (lambda d: d["pre_tokenizer"].update(add_prefix_space=True), "pre-tokenizer"),
        (lambda d: d["pre_tokenizer"].update(use_regex=False), "pre-tokenizer"),
        (lambda d: d.update(normalizer={"type": "NFC"}), "normalizer"),
        (lambda d: d["added_tokens"].append({**d["added_tokens"][0], "id": 5, "content": "!", "special": False}), "added"),
        (lambda d: d["model"].update(ignore_merges=True), "ignore_merges"),
        (lambda d: d["model"].update(dropout=0.1), "dropout"),
        (lambda d: d["model"]["merges"].reverse(), "increasing ids"),
        (lambda d: d["model"]["vocab"].pop("Ġ"), "alphabet"),
        (lambda d: d.update(model={**d["model"], "type": "WordPiece"}), "WordPiece"),
    ],
)
def test_other_configurations_keep_tokenizers(corpus, edit, words):
    data = train_tokenizer(tokenizer_config("bpe", vocab_size=300), corpus).to_dict()["tokenizer"]
    assert tiktoken_encoding(data)[0] is not None
    edit(data)
    enc, why = tiktoken_encoding(data)
    assert enc is None and words in why


@pytest.mark.slow
@pytest.mark.parametrize("form", ["a{}b {}1 '{}s", "  {}{} x\n{}\n!{}? 1{}2"])
def test_every_code_point_encodes_as_tokenizers_does(corpus, form):
    """Every character, in the contexts where the two regex engines (and their Unicode tables) could differ."""
    code_points = [c for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000]
    texts = ["".join(form.format(*[chr(c)] * form.count("{}")) for c in code_points[i : i + 4096])
             for i in range(0, len(code_points), 4096)]  # fmt: skip
    bpe, encoding = _trained(corpus, 1000)
    assert [i for t in texts for i in _ids(encoding, t)] == bpe.encode_array(texts).tolist()
