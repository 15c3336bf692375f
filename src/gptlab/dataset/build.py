"""The ``build`` stage: encode each split of the corpus into a flat token file.

Streams: the corpus is read once, front to back, ``chunk_chars`` characters at a time;
each chunk is encoded and appended to its split's temporary file, so peak memory is a
few chunks whatever the corpus size (and whatever its line lengths). Each ``.bin``
appears under its final name only when complete (temp file, then rename).

Text is handed to the tokenizer in pieces cut only where a cut changes no token (see
:func:`_pieces`), so the ``.bin`` files are the same as encoding each split in one call,
whatever ``chunk_chars``: the memory knob never changes the dataset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gptlab.dataset.meta import DatasetMeta, token_dtype_for
from gptlab.dataset.split import SPLITS, SplitConfig, split_bounds
from gptlab.errors import ConfigError
from gptlab.io import atomic_path, atomic_write_json

# Pieces handed to the tokenizer at once: BPE encodes a batch in parallel threads.
_PIECE_CHARS = 16_384


class ArrayEncoder(Protocol):
    vocab_size: int

    def encode_array(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class BuildConfig:
    chunk_chars: int = 4_000_000  # characters read and encoded at a time: bounds memory

    def __post_init__(self) -> None:
        if self.chunk_chars < 1024:
            raise ConfigError(f"build.chunk_chars must be >= 1024, got {self.chunk_chars}")


# A place to cut the text that changes no token: just before a space, tab or line end
# that follows a non-whitespace character. Byte-level BPE pre-tokenizes with the GPT-2
# pattern, in which a whitespace character after a non-whitespace one always starts a
# new pre-token, and no pattern looks behind, so the text on either side of such a cut
# pre-tokenizes the same alone as together (merges never cross pre-tokens). Cutting
# *after* a newline would not be safe: "\n  x" pre-tokenizes as "\n " + " x", not
# "\n" + "  x". (Python's \S excludes every Unicode whitespace character, so the
# look-behind is conservative.) A char tokenizer is exact at any cut.
_SAFE_CUT = re.compile(r"(?<=\S)[ \t\r\n]")


def _pieces(text: str, max_carry: int) -> tuple[list[str], str]:
    """Cut ``text`` into pieces of about ``_PIECE_CHARS``; return (pieces, carry-over).

    Each piece ends at the first safe cut at least ``_PIECE_CHARS`` after its start, so
    the cuts depend only on the text, never on where a chunk happened to end. The text
    after the last cut is returned, to go in front of the next chunk, unless it is
    longer than ``max_carry``: a long stretch with no safe cut in it (no whitespace) is
    then cut where it is, the one case where chunking can change tokens, so that memory
    stays bounded whatever the text.
    """
    pieces: list[str] = []
    start = 0
    while True:
        m = _SAFE_CUT.search(text, start + _PIECE_CHARS)
        if m is None:
            break
        pieces.append(text[start : m.start()])
        start = m.start()
    rest = text[start:]
    if len(rest) > max_carry:
        pieces.append(rest)
        return pieces, ""
    return pieces, rest


def _read_chars(f, n_chars: int, chunk_chars: int) -> Iterator[str]:
    """The next ``n_chars`` characters of the text file ``f``, ``chunk_chars`` at a time."""
    remaining = n_chars
    while remaining > 0:
        chunk = f.read(min(remaining, chunk_chars))  # text mode: counts characters
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def encode_chunks(
    tokenizer: ArrayEncoder, chunks: Iterable[str], out, dtype: np.dtype, chunk_chars: int, progress
) -> tuple[int, int]:
    """Encode the text ``chunks`` (one split, in order) into the open binary file ``out``."""
    tokens = 0
    chars = 0
    carry = ""
    # At least a few pieces, so a small chunk_chars does not force cuts mid-word.
    max_carry = max(chunk_chars, 4 * _PIECE_CHARS)
    for chunk in chunks:
        chars += len(chunk)
        pieces, carry = _pieces(carry + chunk, max_carry)
        if pieces:
            tokens += _write(tokenizer, pieces, out, dtype)
        if progress is not None:
            progress.update(len(chunk))
    if carry:
        tokens += _write(tokenizer, [carry], out, dtype)
    return tokens, chars


def _write(tokenizer: ArrayEncoder, pieces: list[str], out, dtype: np.dtype) -> int:
    ids = tokenizer.encode_array(pieces)
    out.write(np.ascontiguousarray(ids, dtype=dtype).tobytes())
    return int(ids.size)


def build_dataset(
    corpus_path: str | Path,
    corpus_chars: int,
    corpus_sha256: str,
    tokenizer: Any,
    tokenizer_sha256: str,
    split: SplitConfig,
    out_dir: str | Path,
    cfg: BuildConfig = BuildConfig(),
    progress: bool = True,
) -> DatasetMeta:
    """Write ``{train,val,test}.bin`` and ``meta.json`` into ``out_dir``."""
    corpus_path = Path(corpus_path)
    out_dir = Path(out_dir)
    dtype = token_dtype_for(tokenizer.vocab_size)
    bounds = split_bounds(corpus_chars, split)
    tokens: dict[str, int] = {}
    characters: dict[str, int] = {}

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=corpus_chars, unit="char", unit_scale=True, desc="build", mininterval=0.5)
    try:
        # One pass over the file: the splits are contiguous and in order, so each one
        # starts where the previous one ended (no re-reading the corpus to skip to it).
        with open(corpus_path, encoding="utf-8", newline="") as f:
            position = 0
            for name in SPLITS:
                start, end = bounds[name]
                assert start == position, (name, start, position)
                if bar is not None:
                    bar.set_postfix_str(name)
                chunks = _read_chars(f, end - start, cfg.chunk_chars)
                with atomic_path(out_dir / f"{name}.bin") as tmp, open(tmp, "wb") as out:
                    tokens[name], characters[name] = encode_chunks(tokenizer, chunks, out, dtype, cfg.chunk_chars, bar)
                position = end
    finally:
        if bar is not None:
            bar.close()

    meta = DatasetMeta(
        vocab_size=int(tokenizer.vocab_size),
        dtype=dtype.name,
        tokens=tokens,
        characters=characters,
        tokenizer_sha256=tokenizer_sha256,
        corpus_sha256=corpus_sha256,
        tokenizer_kind=str(getattr(tokenizer, "kind", "unknown")),
    )
    atomic_write_json(out_dir / "meta.json", meta.to_dict())
    return meta
