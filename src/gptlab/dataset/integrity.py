"""Before any ``.bin`` split is read (every reader goes through :func:`open_split`): is it the file ``meta.json``
describes? The size always, the sha256 unless ``GPTLAB_DATA_VERIFY=size``; cost and messages: docs/errors.md."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gptlab.dataset.meta import REBUILD, DatasetMeta
from gptlab.dataset.tokens import open_tokens
from gptlab.errors import ConfigError, DataError

VERIFY_ENV = "GPTLAB_DATA_VERIFY"
_MODES = ("sha256", "size")

# (path, size, mtime_ns, ctime_ns, inode) -> sha256 already checked in this process.
_verified: dict[tuple[str, int, int, int, int], str] = {}


def verify_mode() -> str:
    mode = os.environ.get(VERIFY_ENV, "sha256").strip().lower() or "sha256"
    if mode not in _MODES:
        raise ConfigError(f"{VERIFY_ENV}={mode!r}: expected one of {', '.join(_MODES)}")
    return mode


def check_split(processed_dir: str | Path, meta: DatasetMeta, split: str) -> Path:
    """The path of ``<split>.bin`` once it matches ``meta.json``; a DataError otherwise."""
    path = Path(processed_dir) / f"{split}.bin"
    meta_path = Path(processed_dir) / "meta.json"
    if not path.is_file():
        raise DataError(f"token file not found: {path} (run the build stage first: dvc repro build)")
    st = path.stat()
    tokens = int(meta.tokens.get(split, 0))
    expected = tokens * np.dtype(meta.dtype).itemsize
    if st.st_size != expected:
        raise DataError(
            f"{path} is {st.st_size:,} bytes but {meta_path} says {expected:,} ({tokens:,} {meta.dtype} tokens): "
            f"truncated, extended or replaced since it was built; {REBUILD}"
        )
    record = (meta.files or {}).get(split)
    if record is None or verify_mode() == "size":
        return path
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    digest = _verified.get(key)
    if digest is None:
        from gptlab.io import sha256_file

        digest = sha256_file(path, desc=f"checking {path.name}")
    if digest != record["sha256"]:
        raise DataError(
            f"{path} has sha256 {digest[:16]}… but {meta_path} says {record['sha256'][:16]}…: "
            f"its content changed since it was built (same size: a bit flip or an edit); {REBUILD}"
        )
    _verified[key] = digest
    return path


def open_split(processed_dir: str | Path, meta: DatasetMeta, split: str) -> np.ndarray:
    """A read-only memmap of ``<split>.bin``, after :func:`check_split`."""
    return open_tokens(check_split(processed_dir, meta, split), meta.dtype)


def check_splits(processed_dir: str | Path, meta: DatasetMeta, splits: tuple[str, ...]) -> None:
    for split in splits:
        check_split(processed_dir, meta, split)
