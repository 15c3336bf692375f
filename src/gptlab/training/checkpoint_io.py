"""Lightning's checkpoint writers with gptlab's atomic writes, in the background.

Lightning's own writes a checkpoint into the *system* temporary directory and moves it
over: across filesystems that is a copy, and a full disk leaves a truncated ``best.ckpt``
under its final name. :class:`AtomicCheckpointIO` streams ``torch.save`` into a temporary
file beside the destination (:func:`gptlab.io.atomic_open`), synced and renamed; a full
disk is one :class:`~gptlab.errors.StorageError` line and the previous checkpoint stays
loadable. Imported only when a Trainer is built (it imports Lightning).
"""

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
    """Local paths atomically; remote ones (``s3://...``) as Lightning does.

    After a write failed, later writes are skipped: the first error is the one reported
    (in the background, a full disk would otherwise fail ``best.ckpt`` and then
    ``last.ckpt``, and the second error would hide the first).
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
    """A checkpoint is copied on the training thread (device to device on a GPU) and
    serialised, written and synced on a background thread while training goes on.

    ``wait()`` (at every log step and at the end of training, ``callbacks.StepLog``)
    blocks until the writes are done and raises a write's error on the training thread,
    once: training stops at the next log step after a failed write, with the same
    one-line error as a synchronous write.
    """

    _raised: BaseException | None = None

    def wait(self) -> None:
        # Lightning's teardown shuts the writer thread down (the next save starts a new
        # one) and raises a write's error.
        try:
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
        # The error stays in ``_error`` for Lightning's next check: forgotten here, and
        # never raised a second time, whichever check (save, wait, teardown) finds it.
        if exc is self._error:
            self._error = None
        if exc is self._raised:
            return
        self._raised = exc
        raise exc
