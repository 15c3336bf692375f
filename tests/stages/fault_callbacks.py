"""Callbacks the fault tests inject through ``train.extra_callbacks`` (real signals)."""

from __future__ import annotations

import os
import signal

import lightning as L


class SignalAtStep(L.Callback):
    """Send ``sig`` to this very process once training reaches ``step``."""

    def __init__(self, step: int, sig: str = "SIGKILL"):
        self.step = step
        self.sig = getattr(signal, sig)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.sig)
