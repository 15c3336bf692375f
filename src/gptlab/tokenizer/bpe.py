"""Byte-level BPE on Hugging Face ``tokenizers``, set up so that ``decode(encode(s)) == s`` for every string.

No normalizer, no prefix space, the byte alphabet seeded (never an unknown token), a decoder that cleans
nothing up, no post-processor (no BOS/EOS added). The text "<|endoftext|>" in the input encodes as ordinary
bytes, so raw text can never forge a special id; special ids decode to their token text. ``tokenizers`` is
imported inside functions so importing gptlab stays cheap.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gptlab.errors import TokenizerError
from gptlab.tokenizer.base import Tokenizer, as_id_array, header
from gptlab.tokenizer.config import EOT_TOKEN, TokenizerConfig

if TYPE_CHECKING:
    import tokenizers

# Training text is fed in pieces of about this many characters, cut after a newline:
# the trainer works on pieces in parallel, and one giant string would be one piece.
_TRAIN_CHUNK = 1 << 16


class BpeTokenizer(Tokenizer):
    kind = "bpe"

    def __init__(self, tok: tokenizers.Tokenizer, special_tokens: Sequence[str]) -> None:
        # Not serialized by ``tokenizers``, so it is (re)applied on every construction.
        tok.encode_special_tokens = True
        self._tok = tok
        ids = {}
        for token in special_tokens:
            token_id = tok.token_to_id(token)
            if token_id is None:
                raise TokenizerError(f"special token {token!r} is missing from the BPE vocabulary")
            ids[token] = token_id
        self.special_tokens = ids
        self.vocab_size = tok.get_vocab_size(with_added_tokens=True)
        self.eot_id = ids.get(EOT_TOKEN)
        self._special_text = {i: t for t, i in ids.items()}
        self._special_ids = np.array(sorted(self._special_text), dtype=np.int64)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Pickling (DataLoader workers, multiprocessing) goes through the tokenizers
        # JSON, which drops encode_special_tokens; without this, a worker's copy would
        # turn "<|endoftext|>" in raw text into the end-of-text id.
        self.__dict__.update(state)
        self._tok.encode_special_tokens = True

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, not {type(text).__name__}")
        try:
            return list(self._tok.encode(text, add_special_tokens=False).ids)
        except Exception as e:
            raise _diagnose([text], e) from None

    def encode_array(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("encode_array takes a sequence of strings; use encode() for one string")
        batch = list(texts)
        if not batch:
            return np.zeros(0, dtype=np.int64)
        # encode_batch_fast (tokenizers >= 0.20) skips offset bookkeeping we never use.
        encode_batch = getattr(self._tok, "encode_batch_fast", self._tok.encode_batch)
        try:
            encodings = encode_batch(batch, add_special_tokens=False)
        except Exception as e:
            raise _diagnose(batch, e) from None
        # ``.ids`` builds a fresh list on every access, so read it once per encoding.
        id_lists = [e.ids for e in encodings]
        total = sum(map(len, id_lists))
        return np.fromiter(itertools.chain.from_iterable(id_lists), dtype=np.int64, count=total)

    def decode(self, ids: Sequence[int]) -> str:
        arr = as_id_array(ids, self.vocab_size)
        # Specials are spliced in by hand: the ByteLevel decoder would otherwise treat
        # their text as byte symbols, which garbles any special containing non-ASCII.
        cuts = np.flatnonzero(np.isin(arr, self._special_ids))
        pieces: list[str] = []
        start = 0
        for cut in cuts.tolist():
            if cut > start:
                pieces.append(self._decode_plain(arr[start:cut]))
            pieces.append(self._special_text[int(arr[cut])])
            start = cut + 1
        if start < arr.size:
            pieces.append(self._decode_plain(arr[start:]))
        return "".join(pieces)

    def _decode_plain(self, ids: np.ndarray) -> str:
        return self._tok.decode(ids.tolist(), skip_special_tokens=False)

    def to_dict(self) -> dict[str, Any]:
        eot = EOT_TOKEN if self.eot_id is not None else None
        return {**header(self.kind, list(self.special_tokens), eot), "tokenizer": json.loads(self._tok.to_str())}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BpeTokenizer:
        from tokenizers import Tokenizer as HFTokenizer

        specials = data.get("special_tokens")
        inner = data.get("tokenizer")
        if not isinstance(specials, list) or not all(isinstance(s, str) for s in specials):
            raise TokenizerError("BPE tokenizer JSON needs a 'special_tokens' list of strings")
        if not isinstance(inner, dict):
            raise TokenizerError("BPE tokenizer JSON needs a 'tokenizer' object (the Hugging Face tokenizers JSON)")
        try:
            tok = HFTokenizer.from_str(json.dumps(inner))
        except Exception as e:  # tokenizers raises plain Exception for bad JSON
            raise TokenizerError(f"the embedded Hugging Face tokenizer does not load: {_one_line(e)}") from e
        return cls(tok, specials)


def train_bpe(cfg: TokenizerConfig, pieces: Iterable[str]) -> BpeTokenizer:
    """Byte-level BPE on consecutive text ``pieces``, streamed: never the whole text at once."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=list(cfg.special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    fed = _FedPieces(_line_chunks(pieces))
    try:
        tok.train_from_iterator(fed, trainer=trainer)
    except Exception as e:
        # Only the piece being fed when it failed can be the culprit.
        raise _diagnose([fed.last], e) from None
    return BpeTokenizer(tok, cfg.special_tokens)


def _line_chunks(pieces: Iterable[str]) -> Iterator[str]:
    """Re-cut ``pieces`` into chunks of >= _TRAIN_CHUNK characters ending after a newline (no word is cut),
    which depend only on the joined text, not on how it was read."""
    buf = ""
    for piece in pieces:
        buf += piece
        start = 0
        while (end := buf.find("\n", start + _TRAIN_CHUNK)) >= 0:
            yield buf[start : end + 1]
            start = end + 1
        buf = buf[start:]  # one copy per piece, not per chunk
    if buf:
        yield buf


class _FedPieces:
    """An iterator that remembers the last item it handed out."""

    def __init__(self, it: Iterator[str]) -> None:
        self._it = it
        self.last: object = None

    def __iter__(self) -> _FedPieces:
        return self

    def __next__(self) -> str:
        self.last = next(self._it)
        return self.last


def _diagnose(texts: Sequence[object], error: Exception) -> Exception:
    """Turn a failure inside ``tokenizers`` into a clear error when the input caused it (inspected only
    after the failure: checking up front would cost a full UTF-8 encode of the corpus)."""
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            return TypeError(f"text {index} is {type(text).__name__}, not str")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            # Lone surrogates have no UTF-8 bytes, so byte-level BPE cannot encode them.
            return TokenizerError(
                f"text {index} has an unpaired surrogate {text[e.start]!r} at offset {e.start}; it is not valid Unicode"
            )
    return error


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())
