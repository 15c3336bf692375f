"""Character tokenizer: the special tokens, then the training text's characters by code point.

The text "<unk>" encodes as five characters, so no input can forge a special id. ``<unk>`` decodes to U+FFFD
(the character is lost); other specials decode to their text, so a generated end-of-text stays visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from gptlab.errors import TokenizerError
from gptlab.tokenizer.base import Tokenizer, as_id_array, header, special_token_ids
from gptlab.tokenizer.config import EOT_TOKEN, UNK_POLICIES, UNK_TOKEN, TokenizerConfig

# Python strings hold code points 0..0x10FFFF (lone surrogates included), so a table
# this size needs no bounds check on lookup.
_CODE_POINTS = 0x110000
_UNSEEN = -1
# Characters per slice when scanning a big training text, to bound the UTF-32 copy.
_SCAN_CHUNK = 1 << 24
REPLACEMENT_CHARACTER = "\ufffd"


def _code_points(text: str) -> np.ndarray:
    # surrogatepass: a lone surrogate is a character like any other here.
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class CharTokenizer(Tokenizer):
    kind = "char"

    def __init__(self, chars: Sequence[str], special_tokens: Sequence[str], unk_policy: str = "error") -> None:
        if unk_policy not in UNK_POLICIES:
            raise TokenizerError(f"unk_policy {unk_policy!r} is not one of: {', '.join(UNK_POLICIES)}")
        if unk_policy == "replace" and UNK_TOKEN not in special_tokens:
            raise TokenizerError(f"unk_policy 'replace' needs {UNK_TOKEN!r} among the special tokens")
        chars = list(chars)
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise TokenizerError("a char vocabulary must hold single characters")
        if chars != sorted(set(chars)):
            raise TokenizerError("a char vocabulary must be unique characters sorted by code point")
        self.chars: tuple[str, ...] = tuple(chars)
        self.unk_policy = unk_policy
        self.special_tokens = special_token_ids(special_tokens)
        self.vocab_size = len(self.special_tokens) + len(self.chars)
        self.eot_id = self.special_tokens.get(EOT_TOKEN)
        self._unk_id = self.special_tokens.get(UNK_TOKEN)
        decoded_specials = [REPLACEMENT_CHARACTER if t == UNK_TOKEN else t for t in self.special_tokens]
        self._id_to_text: list[str] = decoded_specials + list(self.chars)
        self._table: np.ndarray | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The lookup table is 9 MB and cheap to rebuild: do not ship it to workers.
        return {**self.__dict__, "_table": None}

    def _lookup_table(self) -> np.ndarray:
        # Built on first use, not in __init__, so loading a tokenizer just to read
        # its vocab_size costs nothing.
        if self._table is None:
            table = np.full(_CODE_POINTS, _UNSEEN, dtype=np.int64)
            if self.chars:
                table[_code_points("".join(self.chars))] = np.arange(len(self.chars)) + len(self.special_tokens)
            self._table = table
        return self._table

    def encode_array(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("encode_array takes a sequence of strings; use encode() for one string")
        texts = list(texts)
        joined = "".join(texts)
        ids = self._lookup_table()[_code_points(joined)]
        unseen = np.flatnonzero(ids == _UNSEEN)
        if unseen.size:
            if self.unk_policy == "replace":
                assert self._unk_id is not None  # guaranteed by __init__
                ids[unseen] = self._unk_id
            else:
                raise self._unseen_error(texts, joined, unseen)
        return ids

    def unseen(self, text: str) -> list[str]:
        """The distinct characters of ``text`` outside the vocabulary, in order of appearance."""
        cps = _code_points(text)
        return list(dict.fromkeys(chr(int(c)) for c in cps[self._lookup_table()[cps] == _UNSEEN]))

    def _unseen_error(self, texts: Sequence[str], joined: str, unseen: np.ndarray) -> TokenizerError:
        offset = int(unseen[0])
        ch = joined[offset]
        where = f"offset {offset}"
        if len(texts) > 1:
            # Report the offset inside the caller's own string, not the joined one.
            ends = np.cumsum([len(t) for t in texts])
            index = int(np.searchsorted(ends, offset, side="right"))
            start = int(ends[index - 1]) if index else 0
            where = f"offset {offset - start} of text {index}"
        more = f" ({unseen.size} unseen characters in all)" if unseen.size > 1 else ""
        return TokenizerError(
            f"character {ch!r} (U+{ord(ch):04X}) at {where} is not in the char tokenizer's vocabulary{more}; "
            "train on text that contains it or set tokenizer.unk_policy=replace"
        )

    def decode(self, ids: Sequence[int]) -> str:
        table = self._id_to_text
        return "".join([table[i] for i in as_id_array(ids, self.vocab_size).tolist()])

    def to_dict(self) -> dict[str, Any]:
        eot = EOT_TOKEN if self.eot_id is not None else None
        return {**header(self.kind, list(self.special_tokens), eot), "unk_policy": self.unk_policy, "chars": list(self.chars)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CharTokenizer:
        chars = data.get("chars")
        specials = data.get("special_tokens")
        policy = data.get("unk_policy", "error")
        if not isinstance(chars, list) or not isinstance(specials, list) or not all(isinstance(s, str) for s in specials):
            raise TokenizerError("char tokenizer JSON needs 'chars' and 'special_tokens' lists of strings")
        return cls(chars, specials, policy)


def train_char(cfg: TokenizerConfig, pieces: Iterable[str]) -> CharTokenizer:
    """The vocabulary of consecutive text ``pieces``, read once (the order is irrelevant)."""
    seen = np.zeros(_CODE_POINTS, dtype=bool)
    for text in pieces:
        for start in range(0, len(text), _SCAN_CHUNK):
            seen[_code_points(text[start : start + _SCAN_CHUNK])] = True
    code_points = np.flatnonzero(seen)
    # chr() of a surrogate code point gives the same lone-surrogate str the text held.
    chars = [chr(int(cp)) for cp in code_points]
    return CharTokenizer(chars, cfg.special_tokens, cfg.unk_policy)
