"""Content hashes of the bytes actually read (a copied hash names what a file *said*)."""

from __future__ import annotations

import codecs
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20
# Above this many bytes a hash shows a progress bar (about 1 s of hashing).
PROGRESS_ABOVE = 1 << 30


def sha256_file(path: str | os.PathLike[str], progress: bool | None = None, desc: str | None = None) -> str:
    """Hex sha256 of a file in 1 MiB chunks; ``progress=None``: a bar above :data:`PROGRESS_ABOVE`."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        show = size > PROGRESS_ABOVE if progress is None else progress
        bar = byte_bar(size, desc or f"sha256 {Path(path).name}") if show else None
        try:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    return h.hexdigest()


def byte_bar(total: int | None, desc: str, disable: bool = False) -> Any:
    """A progress bar in bytes (KiB, MiB...): hashing, downloads."""
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, mininterval=0.5, disable=disable)


class HashingReader(io.RawIOBase):
    """A binary file whose every byte read also goes into a sha256 and a byte count (wrap it
    in ``io.BufferedReader`` and ``io.TextIOWrapper`` to hash text as it is read)."""

    def __init__(self, raw: io.RawIOBase | io.BufferedIOBase):
        super().__init__()
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)
        if n:
            view = memoryview(buffer)[:n]
            self.sha256.update(view)
            self.bytes_read += n
        return n or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


@dataclass(frozen=True)
class TextFileFacts:
    sha256: str
    characters: int
    bytes: int


def measure_text_file(path: str | os.PathLike[str]) -> TextFileFacts:
    """sha256, character and byte counts of a UTF-8 file in one pass; ``UnicodeDecodeError``
    (its ``start`` the file's byte offset) if it is not UTF-8."""
    h = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    chars = 0
    offset = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            try:
                chars += len(decoder.decode(chunk))
            except UnicodeDecodeError as exc:
                raise UnicodeDecodeError(exc.encoding, exc.object, offset + exc.start, offset + exc.end, exc.reason) from None
            offset += len(chunk)
        chars += len(decoder.decode(b"", final=True))
    return TextFileFacts(sha256=h.hexdigest(), characters=chars, bytes=offset)
