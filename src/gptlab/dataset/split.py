"""The contiguous train/val/test split, by characters: ``tokenize`` and ``build`` agree whatever the tokenizer,
and ``train=0.9, val=0.1`` is nanoGPT's tiny-shakespeare split exactly (``text[:int(n * 0.9)]``)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gptlab.errors import ConfigError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitConfig:
    """``data.split``: fractions of the corpus characters (defaults in conf/data/*.yaml)."""

    train: float
    val: float
    test: float

    def __post_init__(self) -> None:
        for name in SPLITS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"data.split.{name} must be in [0, 1], got {value}")
        if self.train <= 0.0 or self.val <= 0.0:
            raise ConfigError("data.split.train and data.split.val must both be > 0")
        total = self.train + self.val + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ConfigError(f"data.split fractions must sum to 1, got {total:g}")


def split_bounds(n_chars: int, cfg: SplitConfig) -> dict[str, tuple[int, int]]:
    """Character ranges ``[start, end)`` of each split of an ``n_chars`` corpus."""
    train_end = int(n_chars * cfg.train)
    # With no test split, validation runs to the end (no rounding remainder is lost).
    val_end = n_chars if cfg.test == 0.0 else int(n_chars * (cfg.train + cfg.val))
    return {"train": (0, train_end), "val": (train_end, val_end), "test": (val_end, n_chars)}


def iter_text_chunks(path: str | Path, start: int, end: int, chunk_chars: int) -> Iterator[str]:
    """Characters ``[start, end)`` of a UTF-8 file, ``chunk_chars`` at a time (memory: one chunk)."""
    with open(path, encoding="utf-8", newline="") as f:
        for _ in read_chars(f, start, chunk_chars):  # skip to start
            pass
        yield from read_chars(f, end - start, chunk_chars)


def read_chars(f, n_chars: int, chunk_chars: int) -> Iterator[str]:
    """The next ``n_chars`` characters of the text file ``f``, ``chunk_chars`` at a time."""
    remaining = n_chars
    while remaining > 0:
        chunk = f.read(min(remaining, chunk_chars))  # text mode: counts characters
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def iter_split_text(
    path: str | Path, n_chars: int, cfg: SplitConfig, split: str, chunk_chars: int = 1 << 22
) -> Iterator[str]:
    """The text of one split, ``chunk_chars`` characters at a time (tokenizer training)."""
    start, end = split_bounds(n_chars, cfg)[split]
    return iter_text_chunks(path, start, end, chunk_chars)


def read_split_text(path: str | Path, n_chars: int, cfg: SplitConfig, split: str) -> str:
    """The whole text of one split, in memory: for small corpora and tests."""
    return "".join(iter_split_text(path, n_chars, cfg, split, chunk_chars=1 << 24))
