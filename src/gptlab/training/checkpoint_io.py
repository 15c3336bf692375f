"""Lightning's checkpoint writers with gptlab's atomic writes (Lightning's own copies across
filesystems, which a full disk leaves truncated under the final name), in the background."""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.plugins.io import AsyncCheckpointIO, TorchCheckpointIO

from gptlab.io import atomic_open


def checkpoint_size(checkpoint: Any) -> int:
    """About how many bytes ``torch.save(checkpoint)`` writes: its tensors' bytes (for the
    message when the disk is full; pickling adds little besides)."""
    if isinstance(checkpoint, torch.Tensor):
        return checkpoint.numel() * checkpoint.element_size()
    if isinstance(checkpoint, dict):
        return sum(checkpoint_size(v) for v in checkpoint.values())
    if isinstance(checkpoint, (list, tuple)):
        return sum(checkpoint_size(v) for v in checkpoint)
    return 0


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` streamed into :func:`gptlab.io.atomic_open` (remote paths as Lightning does).

    After a failed write later ones are skipped: a full disk would fail ``best.ckpt``, then
    ``last.ckpt``, and the second error would hide the first.
    """

    failed = False

    def save_checkpoint(self, checkpoint: dict, path: Any, storage_options: Any = None) -> None:
        if self.failed:
            return None
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        try:
            with atomic_open(path, needed=lambda: checkpoint_size(checkpoint)) as f:
                torch.save(checkpoint, f)
        except BaseException:
            self.failed = True
            raise
        return None


class WaitableAsyncCheckpointIO(AsyncCheckpointIO):
    """Copied on the training thread, written on a background one; ``wait()`` (each log
    step, ``callbacks.StepLog``) raises a failed write's error on the training thread, once."""

    _raised: BaseException | None = None

    def wait(self) -> None:
        try:  # Lightning's teardown joins the writer thread (the next save starts one)
            super().teardown()
        except BaseException as exc:
            self._raise_once(exc)

    def save_checkpoint(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().save_checkpoint(*args, **kwargs)  # raises an earlier write's error
        except BaseException as exc:
            self._raise_once(exc)

    def teardown(self) -> None:
        self.wait()

    def _raise_once(self, exc: BaseException) -> None:
        # Whichever check (save, wait, teardown) finds it, it is raised this once.
        if exc is self._error:
            self._error = None
        if exc is self._raised:
            return
        self._raised = exc
        raise exc
