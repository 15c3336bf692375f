"""The ``build`` stage: encode each split of the corpus into a flat token file.

Streams: the corpus is read ``chunk_chars`` characters at a time, encoded, and appended
to the split's temporary file, so peak memory is a few chunks whatever the corpus size.
Each ``.bin`` appears under its final name only when complete (temp file, then rename).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gptlab.dataset.meta import DatasetMeta, token_dtype_for
from gptlab.dataset.split import SPLITS, SplitConfig, iter_text_chunks, split_bounds
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


def _pieces(chunk: str) -> tuple[list[str], str]:
    """Cut a chunk at line ends into ~_PIECE_CHARS pieces; return (pieces, carry-over).

    Cutting only at newlines keeps chunking from changing what a subword tokenizer
    sees mid-word; the text after the last newline is carried into the next chunk.
    """
    pieces: list[str] = []
    start = 0
    n = len(chunk)
    while start < n:
        end = min(start + _PIECE_CHARS, n)
        cut = chunk.rfind("\n", start, end) + 1 if end < n else end
        if cut <= start:  # no newline in this window: extend to the next one
            nxt = chunk.find("\n", end)
            if nxt == -1:
                return pieces, chunk[start:]
            cut = nxt + 1
        pieces.append(chunk[start:cut])
        start = cut
    return pieces, ""


def encode_range(
    tokenizer: ArrayEncoder, corpus_path: Path, start: int, end: int, out, dtype: np.dtype, chunk_chars: int, progress
) -> tuple[int, int]:
    """Encode characters [start, end) of the corpus into the open binary file ``out``."""
    tokens = 0
    chars = 0
    carry = ""
    for chunk in iter_text_chunks(corpus_path, start, end, chunk_chars):
        chars += len(chunk)
        pieces, carry = _pieces(carry + chunk)
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
        for name in SPLITS:
            start, end = bounds[name]
            if bar is not None:
                bar.set_postfix_str(name)
            with atomic_path(out_dir / f"{name}.bin") as tmp, open(tmp, "wb") as out:
                tokens[name], characters[name] = encode_range(
                    tokenizer, corpus_path, start, end, out, dtype, cfg.chunk_chars, bar
                )
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
