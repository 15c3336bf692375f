"""The build stage writes the same bytes with its fast encoders (tiktoken for BPE, a byte
table for char) as with the tokenizers themselves."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gptlab.dataset import BuildConfig, SplitConfig, build_dataset
from gptlab.dataset import build as build_module
from gptlab.dataset.fast_encode import ByteTableEncoder, TiktokenEncoder, fast_encoder
from gptlab.tokenizer import train_tokenizer
from tests.helpers import SMALL_CORPUS, conf_section, tokenizer_config

# Runs of spaces, digits, emoji, special-token text, non-Latin-1 lines (char: the
# code-point table) and a word longer than a piece.
TEXT = (
    SMALL_CORPUS
    + "  \n\n    indented 1234567 <|endoftext|> 🎉🎉 café\u3000日本語\t\ttabs\r\n" * 40
    + "x" * 70_000
    + " end\n"
)
PIECE_TEXT = st.lists(
    st.sampled_from([" ", "  ", "\n", "\n  ", "\t", "ab", "Romeo", "12", "🎉", "é", "<|endoftext|>", "x" * 50]), max_size=300
).map("".join)


@pytest.fixture(scope="module")
def tokenizers():
    # Trained without most of the long word: training on it takes seconds, encoding it does not.
    sample = TEXT.replace("x" * 70_000, "x" * 500)
    return {kind: train_tokenizer(tokenizer_config(kind, vocab_size=500), sample) for kind in ("bpe", "char")}


@pytest.fixture(scope="module")
def fast(tokenizers):
    encoders = {kind: fast_encoder(tok) for kind, tok in tokenizers.items()}
    assert isinstance(encoders["bpe"], TiktokenEncoder) and isinstance(encoders["char"], ByteTableEncoder)
    return encoders


def _build(tmp_path: Path, name: str, tokenizer, chunk_chars: int) -> dict[str, bytes]:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8", newline="")
    out = tmp_path / name
    split = conf_section(SplitConfig, "data.split")
    build_dataset(corpus, len(TEXT), None, tokenizer, "t", split, out, BuildConfig(chunk_chars=chunk_chars), progress=False)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.parametrize("kind", ["bpe", "char"])
@pytest.mark.parametrize("chunk_chars", [1024, 4_000_000])
def test_the_fast_encoders_build_byte_identical_files(tmp_path, tokenizers, fast, kind, chunk_chars):
    new = _build(tmp_path, "new", fast[kind], chunk_chars)
    old = _build(tmp_path, "old", tokenizers[kind], chunk_chars)
    assert set(new) == {"meta.json", "test.bin", "train.bin", "val.bin"}
    assert new == old


def _encoded(tokenizer, text: str, chunk_chars: int) -> bytes:
    out = io.BytesIO()
    chunks = [text[i : i + chunk_chars] for i in range(0, len(text), chunk_chars)]
    build_module.encode_chunks(tokenizer, chunks, out, np.dtype(np.uint16), chunk_chars, None)
    return out.getvalue()


@settings(deadline=None, max_examples=60)
@given(text=PIECE_TEXT | st.text(), chunk_chars=st.sampled_from([7, 100, 1000]))
def test_chunk_and_piece_boundaries_give_the_same_ids_with_tiktoken(tokenizers, fast, text, chunk_chars):
    with pytest.MonkeyPatch.context() as m:
        m.setattr(build_module, "_PIECE_CHARS", 40)  # many pieces, cut where build cuts them
        assert _encoded(fast["bpe"], text, chunk_chars) == _encoded(tokenizers["bpe"], text, chunk_chars)
