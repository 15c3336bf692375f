"""The interface every gptlab tokenizer implements, and the one self-describing JSON file they share
(:func:`header` plus the kind's fields): easy to track with DVC, hash, and copy next to a model."""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from gptlab.errors import TokenizerError
from gptlab.io.atomic import atomic_write_text

FORMAT_NAME = "gptlab-tokenizer"
FORMAT_VERSION = 1


class Tokenizer(ABC):
    """Maps text to token ids and back."""

    kind: str  # "char" or "bpe"
    vocab_size: int  # every id is in range(vocab_size)
    eot_id: int | None  # the end-of-text token's id; None when it is not a special token
    special_tokens: dict[str, int]  # special token text -> id

    def encode(self, text: str) -> list[int]:
        return self.encode_array([text]).tolist()

    @abstractmethod
    def encode_array(self, texts: Sequence[str]) -> np.ndarray:
        """Flat int64 concatenation of ``encode(t)`` for each ``t`` in ``texts``."""

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Text for ``ids``; special ids decode to their token text (see each kind)."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The JSON object :meth:`to_json` writes."""

    def to_json(self) -> str:
        return dumps_json(self.to_dict())

    def save(self, path: str | os.PathLike[str]) -> None:
        atomic_write_text(path, self.to_json())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, eot_id={self.eot_id})"


def header(kind: str, special_tokens: Sequence[str], eot_token: str | None) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "kind": kind,
        "special_tokens": list(special_tokens),
        "eot_token": eot_token,
    }


def dumps_json(obj: dict[str, Any]) -> str:
    text = json.dumps(obj, ensure_ascii=False, indent=2) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A char vocabulary can hold lone surrogates, which UTF-8 cannot store raw;
        # \uXXXX escapes can, and json.loads gives the same string back.
        text = json.dumps(obj, ensure_ascii=True, indent=2) + "\n"
    return text


def as_id_array(ids: Sequence[int], vocab_size: int) -> np.ndarray:
    """``ids`` as an int64 array, or TokenizerError if any id is outside the vocabulary."""
    try:
        arr = np.asarray(ids, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError, OverflowError) as e:
        raise TokenizerError(f"token ids must be integers: {e}") from e
    if arr.size:
        bad = np.flatnonzero((arr < 0) | (arr >= vocab_size))
        if bad.size:
            raise TokenizerError(
                f"token id {int(arr[bad[0]])} at position {int(bad[0])} is outside the vocabulary (0..{vocab_size - 1})"
            )
    return arr


def special_token_ids(special_tokens: Sequence[str]) -> dict[str, int]:
    """Specials take ids 0..n-1 in config order (see :mod:`gptlab.tokenizer.config`)."""
    return {token: i for i, token in enumerate(special_tokens)}
