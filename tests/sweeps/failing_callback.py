"""A Lightning callback that makes a sweep job fail mid-training (tests/stages/test_sweeps.py
injects it into one job through ``train.extra_callbacks``)."""

from __future__ import annotations

import lightning as L


class RaiseAtStep(L.Callback):
    """Raise a RuntimeError once training reaches ``step``."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            raise RuntimeError(f"injected failure at step {trainer.global_step}")
