"""Reading the ``build`` stage's ``.bin`` token files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gptlab.errors import DataError


def open_tokens(path: str | Path, dtype: str) -> np.ndarray:
    """A read-only memmap of a ``.bin`` file (no page read until used).

    An empty file is an empty array: ``np.memmap`` refuses zero-length files, and a test
    split of fraction 0 is one.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"token file not found: {path} (run the build stage first: dvc repro build)")
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")
