"""Write-to-temp-then-rename, so a kill at any moment leaves the old file or the new one.

``os.replace`` is atomic on POSIX when source and destination are on the same
filesystem, which is why the temporary file is created in the destination's directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; rename it onto ``dest`` on success.

    On any exception the temporary file is removed and ``dest`` is left untouched.
    Works for files and, when the caller creates a directory at the yielded path,
    for directories (an existing destination directory is replaced).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix + ".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # callers create it (as a file or a directory)
    try:
        yield tmp
        if tmp.is_dir():
            _replace_dir(tmp, dest)
        else:
            os.replace(tmp, dest)
    except BaseException:
        _remove(tmp)
        raise


def _replace_dir(tmp: Path, dest: Path) -> None:
    # A directory cannot be os.replace'd over a non-empty one: move the old one aside
    # first, so there is never a moment with a half-written directory at ``dest``.
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old")
        _remove(old)
        os.replace(dest, old)
        os.replace(tmp, dest)
        _remove(old)
    else:
        os.replace(tmp, dest)


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def atomic_write_bytes(dest: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(dest: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(dest, text.encode("utf-8"))


def atomic_write_json(dest: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(dest, json.dumps(obj, indent=2, sort_keys=False) + "\n")
