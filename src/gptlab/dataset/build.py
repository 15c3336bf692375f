"""The ``build`` stage: encode each split of the corpus into a flat token file, streamed (memory: a few chunks).

``meta.json`` records what was measured (the corpus bytes read, each split as written), never what another file
said; text is cut only where a cut changes no token, so ``chunk_chars`` never changes the dataset.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import re
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gptlab.dataset.meta import DatasetMeta, token_dtype_for, write_meta
from gptlab.dataset.split import SPLITS, SplitConfig, read_chars, split_bounds
from gptlab.errors import ConfigError, DataError
from gptlab.io import atomic_open
from gptlab.io.hashing import HashingReader

log = logging.getLogger(__name__)

# Pieces handed to the tokenizer at once: BPE encodes a batch in parallel threads.
_PIECE_CHARS = 16_384


class ArrayEncoder(Protocol):
    vocab_size: int

    def encode_array(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class BuildConfig:
    """The ``build`` section (its default in conf/config.yaml)."""

    chunk_chars: int  # characters read and encoded at a time: bounds memory

    def __post_init__(self) -> None:
        if self.chunk_chars < 1024:
            raise ConfigError(f"build.chunk_chars must be >= 1024, got {self.chunk_chars}")


# A cut that changes no token: before a space, tab or line end that follows a non-whitespace character, where
# GPT-2's pattern always starts a new pre-token and nothing looks behind. After a newline is not safe: "\n  x"
# pre-tokenizes as "\n " + " x". A char tokenizer is exact at any cut.
_SAFE_CUT = re.compile(r"(?<=\S)[ \t\r\n]")


def _pieces(text: str, max_carry: int) -> tuple[list[str], str]:
    """Cut ``text`` at the first safe cut ``_PIECE_CHARS`` or more past each piece's start; return (pieces, carry-over).

    The carry-over goes in front of the next chunk, unless it is longer than ``max_carry`` (no whitespace):
    then it is cut where it is, the one case where chunking can change tokens, to bound memory.
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


def encode_chunks(
    tokenizer: ArrayEncoder, chunks: Iterable[str], out, dtype: np.dtype, chunk_chars: int, progress
) -> tuple[int, int]:
    """Encode the text ``chunks`` (one split, in order) into the open binary file ``out``; a second thread
    writes each chunk's ids while the next is encoded (both release the GIL), one chunk waiting at most."""
    tokens = 0
    chars = 0
    carry = ""
    # At least a few pieces, so a small chunk_chars does not force cuts mid-word.
    max_carry = max(chunk_chars, 4 * _PIECE_CHARS)
    with ThreadPoolExecutor(1) as writer:
        written: Future = writer.submit(int)  # nothing written yet

        def write(pieces: list[str]) -> int:
            nonlocal written
            ids = np.ascontiguousarray(tokenizer.encode_array(pieces), dtype=dtype)
            written.result()  # in order, and a failed write stops the build here
            written = writer.submit(out.write, memoryview(ids).cast("B"))
            return int(ids.size)

        for chunk in chunks:
            chars += len(chunk)
            pieces, carry = _pieces(carry + chunk, max_carry)
            if pieces:
                tokens += write(pieces)
            if progress is not None:
                progress.update(len(chunk))
        if carry:
            tokens += write([carry])
        written.result()
    return tokens, chars


class _HashingSink:
    """A binary file whose every byte written also goes into a sha256 (and a byte count)."""

    def __init__(self, out: Any):
        self.out = out
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.out.write(data)
        self.sha256.update(data)
        self.bytes += len(data)
        return len(data)


def build_dataset(
    corpus_path: str | Path,
    corpus_chars: int,
    corpus_sha256: str | None,
    tokenizer: Any,
    tokenizer_sha256: str,
    split: SplitConfig,
    out_dir: str | Path,
    cfg: BuildConfig,
    progress: bool = True,
    source: dict | None = None,
) -> DatasetMeta:
    """Write ``{train,val,test}.bin`` and ``meta.json`` into ``out_dir``.

    ``corpus_chars`` is the corpus's length in characters (it places the splits);
    ``corpus_sha256`` what ``corpus.json`` says its hash is: only compared, with a
    warning if it differs, as ``meta.json`` records the hash of the bytes read here.
    ``source``: where the corpus came from (``DatasetMeta.source``).
    """
    corpus_path = Path(corpus_path)
    out_dir = Path(out_dir)
    dtype = token_dtype_for(tokenizer.vocab_size)
    bounds = split_bounds(corpus_chars, split)
    tokens: dict[str, int] = {}
    characters: dict[str, int] = {}
    files: dict[str, dict[str, Any]] = {}

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=corpus_chars, unit="char", unit_scale=True, desc="build", mininterval=0.5)
    try:
        # One pass: the splits are contiguous, and the bytes are hashed on their way to the decoder. The three
        # .bin files are renamed into place together once all are complete (a failure leaves the old ones).
        reader = HashingReader(open(corpus_path, "rb", buffering=0))  # noqa: SIM115 - closed by f
        with contextlib.ExitStack() as outputs:
            f = outputs.enter_context(io.TextIOWrapper(io.BufferedReader(reader), encoding="utf-8", newline=""))
            position = 0
            for name in SPLITS:
                start, end = bounds[name]
                assert start == position, (name, start, position)
                if bar is not None:
                    bar.set_postfix_str(name)
                chunks = read_chars(f, end - start, cfg.chunk_chars)
                sink = _HashingSink(outputs.enter_context(atomic_open(out_dir / f"{name}.bin")))
                tokens[name], characters[name] = encode_chunks(tokenizer, chunks, sink, dtype, cfg.chunk_chars, bar)
                files[name] = {"bytes": sink.bytes, "sha256": sink.sha256.hexdigest()}
                position = end
            if sum(characters.values()) != corpus_chars or f.read(1):
                raise DataError(
                    f"{corpus_path} changed while build read it (it no longer has {corpus_chars:,} characters): "
                    "rerun the build stage (dvc repro build)"
                )
            read_sha256 = reader.sha256.hexdigest()
    except UnicodeDecodeError as exc:
        raise DataError(f"{corpus_path} is not valid UTF-8 ({exc.reason}); rerun the prepare stage (dvc repro prepare)") from None
    finally:
        if bar is not None:
            bar.close()

    meta = DatasetMeta(
        vocab_size=int(tokenizer.vocab_size),
        dtype=dtype.name,
        tokens=tokens,
        characters=characters,
        tokenizer_sha256=tokenizer_sha256,
        corpus_sha256=read_sha256,
        tokenizer_kind=str(getattr(tokenizer, "kind", "unknown")),
        files=files,
        source=source,
    )
    if corpus_sha256 is not None and corpus_sha256 != read_sha256:
        log.warning(
            "%s is not the text its metadata describes (sha256 %s… recorded, %s… read): the dataset records the "
            "text as read", corpus_path, corpus_sha256[:12], read_sha256[:12],
        )  # fmt: skip
    write_meta(out_dir / "meta.json", meta)
    return meta
