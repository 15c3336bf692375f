"""gptlab.io.atomic: same-directory temporaries, fsync, the umask's mode, one-line storage errors."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from gptlab.errors import StorageError, StoragePermissionError
from gptlab.io import atomic, atomic_open, atomic_path, atomic_write_bytes, atomic_write_json


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_files_get_the_umask_mode_not_0600(tmp_path, umask, mask):
    umask(mask)
    atomic_write_bytes(tmp_path / "a.bin", b"x")
    assert mode(tmp_path / "a.bin") == 0o666 & ~mask


def test_a_directory_and_files_made_0600_by_a_library_get_the_umask_mode(tmp_path, umask):
    umask(0o022)
    with atomic_path(tmp_path / "model") as tmp:
        tmp.mkdir()
        (tmp / "weights").write_bytes(b"w")
        os.chmod(tmp / "weights", 0o600)  # what safetensors does
    assert mode(tmp_path / "model") == 0o755
    assert mode(tmp_path / "model" / "weights") == 0o644


def test_the_temporary_is_in_the_destination_directory_and_synced(tmp_path, monkeypatch):
    seen, synced = [], []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd)))
    with atomic_path(tmp_path / "sub" / "f.json") as tmp:
        seen.append(tmp)
        tmp.write_text("{}")
    assert seen[0].parent == tmp_path / "sub"
    assert str(seen[0]) in synced  # the data, before the rename
    assert str(tmp_path / "sub") in synced  # the directory entry, after it


@pytest.mark.parametrize(
    ("code", "cls", "exit_code", "words"),
    [
        (errno.ENOSPC, StorageError, 74, "no space left"),
        (errno.EDQUOT, StorageError, 74, "quota"),
        (errno.EFBIG, StorageError, 74, "file too large"),
        (errno.EROFS, StoragePermissionError, 77, "read-only"),
        (errno.EACCES, StoragePermissionError, 77, "permission denied"),
    ],
)
def test_a_refused_write_is_one_line_and_the_previous_file_stays(tmp_path, code, cls, exit_code, words):
    dest = tmp_path / "report.json"
    atomic_write_json(dest, {"old": True})
    before = dest.read_bytes()

    with pytest.raises(cls) as info, atomic_open(dest, "wb", needed=5 << 20) as f:
        f.write(b"half")
        raise OSError(code, os.strerror(code))
    msg = str(info.value)
    assert "\n" not in msg and str(dest) in msg and words in msg
    assert ".tmp" not in msg  # the user knows the destination, not our temporary name
    assert info.value.exit_code == exit_code
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        assert "needs about 5.0 MiB" in msg and "free there" in msg
    assert "previous file is untouched" in msg
    assert dest.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_an_unrelated_error_is_not_turned_into_a_storage_error(tmp_path):
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "x") as tmp:
        tmp.write_text("x")
        open(tmp_path / "missing-input")  # noqa: SIM115
    assert leftovers(tmp_path) == []


def test_a_nested_writes_error_names_its_own_file(tmp_path):
    """Two files renamed together (corpus.txt inside corpus.json's write): the inner one's line stands."""
    with pytest.raises(StorageError, match=r"^cannot write .*inner\.txt: file too large"):
        with atomic_path(tmp_path / "outer.json") as outer, atomic_path(tmp_path / "inner.txt") as inner:
            outer.write_text("{}")
            inner.write_text("x")
            raise OSError(errno.EFBIG, "File too large")
    assert leftovers(tmp_path) == []


def test_an_input_that_cannot_be_read_is_named_not_the_output(tmp_path):
    err = atomic.storage_error(PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "in.txt")),
                               tmp_path / "out.bin")  # fmt: skip
    assert str(err).startswith(f"cannot access {tmp_path / 'in.txt'}: permission denied")


def test_a_failing_directory_swap_puts_the_old_directory_back(tmp_path, monkeypatch):
    dest = tmp_path / "model"
    dest.mkdir()
    (dest / "w").write_text("old")
    real_replace = os.replace

    def flaky(src, dst):
        if Path(src).name.startswith(".model.") and Path(src).name.endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(StorageError), atomic_path(dest) as tmp:
        tmp.mkdir()
        (tmp / "w").write_text("new")
    assert (dest / "w").read_text() == "old"
    assert leftovers(tmp_path) == []


def test_human_bytes():
    assert atomic.human_bytes(0) == "0 B"
    assert atomic.human_bytes(1536) == "1.5 KiB"
    assert atomic.human_bytes(3 << 30) == "3.0 GiB"


def test_a_full_disk_reported_by_a_rust_writer_is_one_line_too(tmp_path):
    """safetensors writes the weights in Rust and raises ``SafetensorError('... (os error 28)')``."""

    class SafetensorError(Exception):
        pass

    with pytest.raises(StorageError, match="no space left") as info, atomic_path(tmp_path / "model") as tmp:
        tmp.mkdir()
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    assert f"cannot write {tmp_path / 'model'}" in str(info.value)
    assert leftovers(tmp_path) == []
