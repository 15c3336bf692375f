"""Defect 2: checkpoints are written beside their destination, synced and renamed; never torn.
Written in the background (Lightning's AsyncCheckpointIO around the atomic writer), a failed
write is raised on the training thread, once, with the first failure's message."""

from __future__ import annotations

import errno
import stat

import pytest
import torch

from gptlab.errors import StorageError
from gptlab.training.trainer_build import async_checkpoint_io, atomic_checkpoint_io, checkpoint_size


def checkpoint(value: float) -> dict:
    return {"state_dict": {"w": torch.full((1000,), value)}, "global_step": int(value)}


def test_a_full_disk_mid_checkpoint_leaves_the_previous_one_loadable(tmp_path, monkeypatch):
    io = atomic_checkpoint_io()
    path = tmp_path / "checkpoints" / "best.ckpt"
    io.save_checkpoint(checkpoint(1.0), path)
    before = path.read_bytes()

    real_save = torch.save

    def torn_save(obj, f, *args, **kwargs):
        real_save({"partial": torch.zeros(10)}, f)  # some bytes reach the disk...
        raise OSError(errno.ENOSPC, "No space left on device")  # ...then it is full

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(StorageError) as info:
        io.save_checkpoint(checkpoint(2.0), path)
    msg = str(info.value)
    assert msg.startswith(f"cannot write {path}: no space left on the device (needs about 3.9 KiB")
    assert "previous file is untouched" in msg
    assert path.read_bytes() == before
    assert torch.load(path, weights_only=True)["global_step"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["best.ckpt"]  # no temporary left


def test_checkpoints_are_written_in_their_own_directory_with_the_umask_mode(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "elsewhere"))  # the system temp dir is never used
    io = atomic_checkpoint_io()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint(checkpoint(3.0), path)
    assert torch.load(path, weights_only=True)["global_step"] == 3
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()
    assert not (tmp_path / "elsewhere").exists()


def test_a_background_write_is_a_snapshot_on_disk_after_wait(tmp_path):
    io = async_checkpoint_io(atomic_checkpoint_io())
    state = checkpoint(4.0)
    io.save_checkpoint(state, tmp_path / "last.ckpt")
    state["state_dict"]["w"].fill_(5.0)  # training goes on and changes the weights in place
    io.wait()
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert torch.equal(saved["state_dict"]["w"], torch.full((1000,), 4.0))  # what was saved, not what followed
    io.save_checkpoint(checkpoint(6.0), tmp_path / "last.ckpt")
    io.teardown()  # the end of a fit waits too
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["global_step"] == 6


def test_a_full_disk_in_the_background_is_raised_once_with_the_first_file(tmp_path, monkeypatch):
    io = async_checkpoint_io(atomic_checkpoint_io())
    best, last = tmp_path / "best.ckpt", tmp_path / "last.ckpt"
    io.save_checkpoint(checkpoint(1.0), best)
    io.save_checkpoint(checkpoint(1.0), last)
    io.wait()
    before = best.read_bytes(), last.read_bytes()

    def full(obj, f, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    io.save_checkpoint(checkpoint(2.0), best)  # fails in the background...
    with pytest.raises(StorageError, match=f"^cannot write {best}: no space left") as info:
        # ...and is raised on the training thread: at the next save if it failed by then,
        # else at the next wait (the next log step). After a failure last.ckpt is not attempted.
        io.save_checkpoint(checkpoint(2.0), last)
        io.wait()
    assert "previous file is untouched" in str(info.value)
    io.teardown()  # raised once: the end of the fit does not raise it a second time
    assert (best.read_bytes(), last.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt", "last.ckpt"]


def test_checkpoint_size_counts_the_tensors():
    assert checkpoint_size({"a": torch.zeros(10, dtype=torch.float32), "b": [torch.zeros(4, dtype=torch.int64)]}) == 72


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
