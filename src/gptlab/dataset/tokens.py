"""Reading the ``build`` stage's ``.bin`` token files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gptlab.errors import DataError


def open_tokens(path: str | Path, dtype: str) -> np.ndarray:
    """A read-only memmap of a ``.bin`` file, unchecked (splits: :func:`gptlab.dataset.integrity.open_split`)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"token file not found: {path} (run the build stage first: dvc repro build)")
    size = path.stat().st_size
    if size == 0:  # np.memmap refuses an empty file, and a test split of fraction 0 is one
        return np.zeros(0, dtype=dtype)
    itemsize = np.dtype(dtype).itemsize
    if size % itemsize:
        raise DataError(
            f"{path} is {size:,} bytes, not a whole number of {dtype} tokens ({itemsize} bytes each): "
            "it is truncated or damaged; rebuild it: dvc repro build"
        )
    return np.memmap(path, dtype=dtype, mode="r")
