"""Write-to-temp-then-rename, so a kill at any moment leaves the old file or the new one.

Every file gptlab writes goes through :func:`atomic_path`: a temporary in the destination's
own directory (``os.replace`` is atomic only within one filesystem), flushed, given the
umask's mode (safetensors creates ``0600`` files), renamed; the OS refusing to store it is
one :class:`StorageError` line (docs/errors.md).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from gptlab.errors import GptlabError, StorageError, StoragePermissionError

# What the operating system says when it will not store a file, and how a user reads it.
_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (the file-size limit of this process or filesystem)",
    errno.EIO: "input/output error (a failing disk or a lost network filesystem?)",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
_NO_PERMISSION = {errno.EROFS, errno.EACCES, errno.EPERM}
_OUT_OF_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
STORAGE_ERRNOS = frozenset(_REASONS)

Needed = int | Callable[[], int] | None


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc``)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open(..., "w")`` gives a new file under the current umask."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    return 0o777 & ~current_umask()


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _free_bytes(directory: Path) -> int | None:
    for d in (directory, *directory.parents):
        if d.exists():
            with contextlib.suppress(OSError):
                return shutil.disk_usage(d).free
            return None
    return None


def storage_error(
    exc: OSError, dest: str | os.PathLike[str] | None, needed: Needed = None, written: int | None = None
) -> StorageError | None:
    """The one-line error for ``exc``, an OSError met storing ``dest`` (None if it is not the
    OS refusing to store something). It names ``dest``, never its temporary, or the other
    file ``exc`` names (an input read while writing it)."""
    if exc.errno not in STORAGE_ERRNOS:
        return None
    target = Path(dest) if dest is not None else None
    named = Path(exc.filename) if exc.filename else None
    verb = "write"
    if named is not None and (target is None or not _concerns(named, target)):
        target, verb = named, ("write" if exc.errno in _OUT_OF_SPACE else "access")
    detail = []
    if exc.errno in _OUT_OF_SPACE:
        need = needed() if callable(needed) else needed
        if need:
            detail.append(f"needs about {human_bytes(need)}")
        elif written:
            detail.append(f"{human_bytes(written)} written before it failed")
        free = _free_bytes(target.parent) if target is not None else None
        if free is not None:
            detail.append(f"{human_bytes(free)} free there")
    details = f" ({', '.join(detail)})" if detail else ""
    # No target: a write to an open file, outside gptlab's atomic helpers.
    what = f"cannot {verb} {target}" if target is not None else "cannot write a file"
    kept = ""
    if verb == "write" and target is not None and dest is not None:
        kept = "; the previous file is untouched" if target.exists() else "; nothing was left behind"
    cls = StoragePermissionError if exc.errno in _NO_PERMISSION else StorageError
    return cls(f"{what}: {_REASONS[exc.errno]}{details}{kept}")


def _concerns(named: Path, dest: Path) -> bool:
    """Whether the file an OSError names is ``dest``, its temporary, or a directory on its way."""
    named, dest = Path(os.path.abspath(named)), Path(os.path.abspath(dest))
    if named in (dest, *dest.parents):
        return True
    for p in (named, *named.parents):
        if p.parent == dest.parent and p.name.startswith(f".{dest.name}."):
            return True
    return False


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:  # a directory on a filesystem that cannot sync one
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _settle(tmp: Path) -> None:
    """Flush ``tmp`` (a file, or a directory tree) to disk and give it the umask's modes."""
    if tmp.is_dir() and not tmp.is_symlink():
        fmode, dmode = file_mode(), dir_mode()
        for root, _dirs, files in os.walk(tmp):
            for name in files:
                f = Path(root) / name
                _fsync(f)
                os.chmod(f, fmode)
            os.chmod(root, dmode)
            _fsync(Path(root))
    elif tmp.exists():
        _fsync(tmp)
        os.chmod(tmp, file_mode())


def _size(path: Path) -> int | None:
    with contextlib.suppress(OSError):
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size
    return None


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str], suffix: str = "", needed: Needed = None) -> Iterator[Path]:
    """Yield a temporary path next to ``dest`` (the caller creates a file or a directory
    there), renamed onto ``dest`` on success, removed on any exception. ``needed`` (bytes, or
    a function giving them) is for the message when space runs out."""
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix + ".tmp", dir=dest.parent)
    except OSError as exc:
        err = storage_error(exc, dest, needed)
        if err is None:
            raise
        raise err from exc
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # callers create it (as a file or a directory)
    try:
        yield tmp
        _settle(tmp)
        if tmp.is_dir():
            _replace_dir(tmp, dest)
        else:
            os.replace(tmp, dest)
        with contextlib.suppress(OSError):
            _fsync(dest.parent)
    except Exception as exc:
        written, free = _size(tmp), _free_bytes(dest.parent)  # while the temporary still fills the disk
        _remove(tmp)
        os_error = _os_error_behind(exc, free)
        err = storage_error(os_error, dest, needed, written) if os_error is not None else None
        if err is None:
            raise
        raise err from exc
    except BaseException:
        _remove(tmp)
        raise


_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")
# Less room than this when a write failed: the disk is full, whatever the writer raised.
_FULL = 1 << 20


def _os_error_behind(exc: BaseException, free: int | None) -> OSError | None:
    """The OSError behind a failed write: ``exc`` or its cause or context (torch's zip writer
    raises a RuntimeError), a Rust library's ``(os error N)``, else ENOSPC on a disk left
    with almost no room; None for gptlab's own errors, which already say what failed."""
    if isinstance(exc, GptlabError):
        return None
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, OSError):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    m = _RUST_OS_ERROR.search(str(exc))
    code = int(m.group(1)) if m else None
    if code is None and free is not None and free < _FULL:
        code = errno.ENOSPC
    return OSError(code, os.strerror(code)) if code is not None else None


@contextlib.contextmanager
def atomic_open(
    dest: str | os.PathLike[str], mode: str = "wb", *, encoding: str | None = None, needed: Needed = None
) -> Iterator[IO[Any]]:
    """An open file that becomes ``dest`` when the ``with`` body ends without an error."""
    with atomic_path(dest, needed=needed) as tmp, open(tmp, mode, encoding=encoding) as f:
        yield f
        f.flush()


def _replace_dir(tmp: Path, dest: Path) -> None:
    # A directory cannot be os.replace'd over a non-empty one: move the old one aside
    # first, so there is never a moment with a half-written directory at ``dest``.
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old")
        _remove(old)
        os.replace(dest, old)
        try:
            os.replace(tmp, dest)
        except BaseException:
            os.replace(old, dest)
            raise
        _remove(old)
    else:
        os.replace(tmp, dest)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def atomic_write_bytes(dest: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(dest, needed=len(data)) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(dest: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(dest, text.encode("utf-8"))


def atomic_write_json(dest: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(dest, json.dumps(obj, indent=2, sort_keys=False) + "\n")
