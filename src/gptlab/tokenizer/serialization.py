"""Read a saved tokenizer back, whatever its kind, with errors that say what is wrong."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gptlab.errors import TokenizerError
from gptlab.tokenizer.base import FORMAT_NAME, FORMAT_VERSION, Tokenizer
from gptlab.tokenizer.config import KINDS


def tokenizer_from_json(s: str) -> Tokenizer:
    """Rebuild a tokenizer from :meth:`Tokenizer.to_json` output."""
    try:
        data = json.loads(s)
    except json.JSONDecodeError as e:
        raise TokenizerError(f"not valid JSON (truncated or corrupt?): {e}") from e
    return tokenizer_from_dict(data)


def tokenizer_from_dict(data: Any) -> Tokenizer:
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise TokenizerError(f"not a gptlab tokenizer file (expected a JSON object with \"format\": \"{FORMAT_NAME}\")")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise TokenizerError(f"tokenizer file has no valid format version (got {version!r})")
    if version > FORMAT_VERSION:
        raise TokenizerError(
            f"tokenizer file has format version {version}, but this gptlab reads up to version {FORMAT_VERSION}; upgrade gptlab"
        )
    kind = data.get("kind")
    # Imported here so loading a char tokenizer never touches the BPE module's deps.
    if kind == "char":
        from gptlab.tokenizer.char import CharTokenizer

        return CharTokenizer.from_dict(data)
    if kind == "bpe":
        from gptlab.tokenizer.bpe import BpeTokenizer

        return BpeTokenizer.from_dict(data)
    raise TokenizerError(f"unknown tokenizer kind {kind!r}; expected one of: {', '.join(KINDS)}")


def load_tokenizer(path: str | os.PathLike[str]) -> Tokenizer:
    """Load a tokenizer saved with :meth:`Tokenizer.save`; every failure names ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TokenizerError(f"{path}: tokenizer file not found (train one first)") from None
    except IsADirectoryError:
        raise TokenizerError(f"{path}: is a directory, expected a tokenizer JSON file") from None
    except UnicodeDecodeError:
        raise TokenizerError(f"{path}: not a tokenizer JSON file (not UTF-8 text)") from None
    except OSError as e:
        raise TokenizerError(f"{path}: cannot read tokenizer file: {e.strerror or e}") from None
    try:
        return tokenizer_from_json(text)
    except TokenizerError as e:
        raise TokenizerError(f"{path}: {e}") from e
