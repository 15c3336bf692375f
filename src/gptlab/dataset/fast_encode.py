"""The build stage's encoders: the ids of the tokenizer they stand for, faster (BENCHMARKS.md, "Build stage").

BPE: tiktoken on every core where it gives the same ids; char: ``bytes.translate`` below U+0100. Text a fast
path cannot take goes to the tokenizer itself, whose policy decides and whose errors the user sees.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tiktoken

    from gptlab.tokenizer import Tokenizer

log = logging.getLogger(__name__)

_UNSEEN = 255  # the byte table's mark of a character outside the vocabulary


def fast_encoder(tokenizer: Tokenizer) -> Tokenizer | _Encoder:
    """An encoder with ``tokenizer``'s ``kind``, ``vocab_size`` and ids, as fast as it can be exact."""
    from gptlab.tokenizer.bpe import BpeTokenizer
    from gptlab.tokenizer.char import CharTokenizer

    if isinstance(tokenizer, CharTokenizer):
        one_byte = [c for c in tokenizer.chars if ord(c) < 256]
        ids = tokenizer.encode_array(one_byte).tolist()
        if max(ids, default=0) < _UNSEEN:
            table = bytearray([_UNSEEN]) * 256
            for c, i in zip(one_byte, ids):
                table[ord(c)] = i
            return ByteTableEncoder(tokenizer, bytes(table))
    if isinstance(tokenizer, BpeTokenizer):
        from gptlab.tokenizer.tiktoken_bpe import tiktoken_encoding

        encoding, why = tiktoken_encoding(tokenizer.to_dict()["tokenizer"])
        if encoding is not None:
            return TiktokenEncoder(tokenizer, encoding)
        log.info("build encodes with tokenizers, not tiktoken, which would not give the same ids: %s", why)
    return tokenizer


@dataclass(frozen=True)
class _Encoder:
    tokenizer: Tokenizer

    @property
    def kind(self) -> str:
        return self.tokenizer.kind

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size


@dataclass(frozen=True)
class TiktokenEncoder(_Encoder):
    encoding: tiktoken.Encoding

    def encode_array(self, texts: Sequence[str]) -> np.ndarray:
        # Special-token text is ordinary text, as in BpeTokenizer (disallowed_special=()).
        encode = functools.partial(self.encoding.encode_to_numpy, disallowed_special=())
        try:
            # tiktoken releases the GIL while it encodes: one text per thread, in order.
            with ThreadPoolExecutor(max(1, min(len(texts), os.cpu_count() or 1))) as pool:
                arrays = list(pool.map(encode, texts))
        except Exception:  # e.g. a lone surrogate: the tokenizer says what is wrong
            return self.tokenizer.encode_array(texts)
        return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.uint32)


@dataclass(frozen=True)
class ByteTableEncoder(_Encoder):
    table: bytes  # the id of each character below U+0100, or _UNSEEN

    def encode_array(self, texts: Sequence[str]) -> np.ndarray:
        joined = "".join(texts)
        try:
            ids = joined.encode("latin-1").translate(self.table)
        except UnicodeEncodeError:
            return self.tokenizer.encode_array(texts)
        if _UNSEEN in ids:
            return self.tokenizer.encode_array(texts)
        return np.frombuffer(ids, dtype=np.uint8)
