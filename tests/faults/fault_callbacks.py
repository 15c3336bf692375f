"""Callbacks the fault tests inject through ``train.extra_callbacks`` (real signals, real limits)."""

from __future__ import annotations

import os
import resource
import signal
import time
from pathlib import Path

import lightning as L


class SignalAtStep(L.Callback):
    """Send ``sig`` to this very process once training reaches ``step``."""

    def __init__(self, step: int, sig: str = "SIGKILL"):
        self.step = step
        self.sig = getattr(signal, sig)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.sig)


def limit_file_size(max_bytes: int) -> None:
    """From now on no file of this process may grow past ``max_bytes``: writes fail with EFBIG,
    as on a full disk (without root, unlike a small filesystem)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, hard))


class FileSizeLimit(L.Callback):
    """:func:`limit_file_size` at the start of training (checkpoints) or at its end (the
    loss picture, the model directory, the reports)."""

    def __init__(self, max_bytes: int, at: str = "train_start"):
        self.max_bytes = max_bytes
        self.at = at

    def on_train_start(self, trainer, pl_module) -> None:
        if self.at == "train_start":
            limit_file_size(self.max_bytes)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.at == "train_end":
            limit_file_size(self.max_bytes)


class Pace(L.Callback):
    """Each step takes at least ``step_s`` (a run of known length); at each step in
    ``marks`` write ``<dir>/step_<N>`` so a test can act at a known point of training; at
    step ``hold_at``, wait (at most ``hold_s``) for the test to create ``<dir>/go``."""

    def __init__(self, step_s: float, dir: str, marks: list[int] | tuple[int, ...] = (), hold_at: int = -1,
                 hold_s: float = 300.0):  # fmt: skip
        self.step_s = step_s
        self.dir = Path(dir)
        self.marks = set(marks)
        self.hold_at = hold_at
        self.hold_s = hold_s
        self._t = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._t = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        left = self.step_s - (time.monotonic() - (self._t or time.monotonic()))
        if left > 0:
            time.sleep(left)
        if trainer.global_step in self.marks or trainer.global_step == self.hold_at:
            (self.dir / f"step_{trainer.global_step}").write_text(str(time.time()))
        if trainer.global_step == self.hold_at:
            deadline = time.monotonic() + self.hold_s
            while not (self.dir / "go").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
