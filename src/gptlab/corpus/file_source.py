"""``source=file``: one local UTF-8 file, or a glob of them."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from gptlab.corpus.corpus import Corpus
from gptlab.corpus.decode import decode_utf8
from gptlab.errors import DataError

_GLOB_CHARS = "*?["


def resolve_paths(pattern: str) -> list[Path]:
    """A plain path, or the files a glob matches (``**`` recursive), sorted for reproducibility."""
    expanded = os.path.expanduser(pattern)
    if not any(c in expanded for c in _GLOB_CHARS):
        path = Path(expanded)
        if path.is_dir():
            raise DataError(f"corpus path {pattern} is a directory; give a file or a glob such as '{pattern}/*.txt'")
        if not path.is_file():
            raise DataError(f"corpus file not found: {pattern}")
        return [path]
    files = sorted(Path(p) for p in glob.glob(expanded, recursive=True) if os.path.isfile(p))
    if not files:
        raise DataError(f"corpus glob matched no files: {pattern}")
    return files


def read_text_file(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read corpus file {path}: {e.strerror or e}") from None
    return decode_utf8(data, str(path))


def join_documents(texts: list[str]) -> str:
    """Concatenate files, giving each but the last a final newline so lines never run
    together (a single file stays byte-identical)."""
    parts = [t if t.endswith("\n") or not t else t + "\n" for t in texts[:-1]]
    return "".join(parts + texts[-1:])


def load_files(pattern: str) -> Corpus:
    paths = resolve_paths(pattern)
    text = join_documents([read_text_file(p) for p in paths])
    return Corpus(text=text, documents=tuple(str(p) for p in paths), source=pattern)
