"""Build the Lightning pieces of a fit: callbacks and the Trainer, from typed settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptlab.errors import ConfigError
from gptlab.training.config import TrainConfig, TrainerConfig
from gptlab.training.progress_samples import ProgressSamples


@dataclass
class FitCallbacks:
    """The callbacks whose results the fit reads back after training."""

    checkpoint: Any  # ModelCheckpoint: best.ckpt by val/loss, and last.ckpt
    throughput: Any  # Throughput: tokens/s and MFU
    history: Any  # LossHistory: the loss curves' CSVs
    step_log: Any  # StepLog: the log step (first, so that user callbacks see its state)
    others: list

    def all(self) -> list:
        return [self.step_log, self.checkpoint, self.throughput, self.history, *self.others]


def build_callbacks(
    trainer_cfg: TrainerConfig,
    train_cfg: TrainConfig,
    checkpoints: Path,
    plots_dir: Path,
    flops_per_token: float,
    samples: ProgressSamples,
) -> FitCallbacks:
    from lightning.pytorch.callbacks import ModelCheckpoint

    from gptlab.training.callbacks import (
        InterruptCheckpoint,
        LossHistory,
        PeriodicSample,
        RNGState,
        StepLog,
        StepProgressBar,
        Throughput,
    )

    checkpoint = ModelCheckpoint(
        dirpath=checkpoints,
        filename="best",
        monitor="val/loss",
        mode="min",
        save_top_k=1,
        save_last=True,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    throughput = Throughput(tokens_per_step=0, flops_per_token=flops_per_token)
    history = LossHistory(plots_dir)
    step_log = StepLog(trainer_cfg.log_every_n_steps, history, throughput)
    # Redrawing the bar every step costs ~15% of a small model's step time on a CPU.
    bar = [StepProgressBar(refresh_rate=20, step_log=step_log)] if trainer_cfg.enable_progress_bar else []
    return FitCallbacks(
        checkpoint=checkpoint,
        throughput=throughput,
        history=history,
        step_log=step_log,
        others=[
            *bar,
            RNGState(),
            InterruptCheckpoint(checkpoints / "last.ckpt"),
            PeriodicSample(train_cfg.sample_every_n_val, samples.make, samples.keep),
            *extra_callbacks(train_cfg.extra_callbacks),
        ],
    )


def extra_callbacks(specs: tuple) -> list:
    """User callbacks from config: ``train.extra_callbacks=[{_target_: pkg.Cls, arg: 1}]``."""
    if not specs:
        return []
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    out = []
    for spec in specs:
        try:
            out.append(instantiate(dict(spec)))
        except InstantiationException as exc:
            raise ConfigError(f"train.extra_callbacks: cannot instantiate {spec}: {exc}") from None
    return out


def check_devices(t: TrainerConfig) -> None:
    """More CPU processes than cores is legal for Lightning but never what anyone wants."""
    if str(t.accelerator) == "cpu" and isinstance(t.devices, int) and t.devices > (os.cpu_count() or 1):
        raise ConfigError(f"trainer.devices={t.devices} but this machine has {os.cpu_count()} CPU cores")


def checkpoint_size(checkpoint: Any) -> int:
    """About how many bytes ``torch.save(checkpoint)`` writes: its tensors' bytes (for the
    message when the disk is full; pickling adds little besides)."""
    import torch

    if isinstance(checkpoint, torch.Tensor):
        return checkpoint.numel() * checkpoint.element_size()
    if isinstance(checkpoint, dict):
        return sum(checkpoint_size(v) for v in checkpoint.values())
    if isinstance(checkpoint, (list, tuple)):
        return sum(checkpoint_size(v) for v in checkpoint)
    return 0


def atomic_checkpoint_io() -> Any:
    """Lightning's ``CheckpointIO`` with gptlab's atomic writes (:func:`gptlab.io.atomic_open`).

    Lightning's own writes a checkpoint into the *system* temporary directory and moves
    it over: across filesystems that is a copy, and a full disk leaves a truncated
    ``best.ckpt`` under its final name. Here the checkpoint is streamed by ``torch.save``
    into a temporary file beside the destination (no second copy in memory), synced and
    renamed; a full disk is one line, and the previous checkpoint stays loadable.
    Remote paths (``s3://...``) keep Lightning's behaviour.

    After a write failed, later writes are skipped: the first error is the one reported
    (in the background, a full disk would otherwise fail ``best.ckpt`` and then
    ``last.ckpt``, and the second error would hide the first).
    """
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        failed = False

        def save_checkpoint(self, checkpoint: dict, path: Any, storage_options: Any = None) -> None:
            if self.failed:
                return None
            if storage_options is not None or "://" in str(path):
                return super().save_checkpoint(checkpoint, path, storage_options)
            import torch

            from gptlab.io import atomic_open

            try:
                with atomic_open(path, needed=lambda: checkpoint_size(checkpoint)) as f:
                    torch.save(checkpoint, f)
            except BaseException:
                self.failed = True
                raise
            return None

    return AtomicCheckpointIO()


def async_checkpoint_io(inner: Any) -> Any:
    """Lightning's ``AsyncCheckpointIO`` around ``inner``: a checkpoint is copied on the
    training thread (a device-to-device copy on a GPU) and serialised, written and synced
    on a background thread while training goes on.

    ``wait()`` (called at every log step and at the end of training,
    ``callbacks.StepLog``) blocks until the writes are done and raises a write's error on
    the training thread, once: training stops at the next log step after a failed write,
    with the same one-line error as a synchronous write.
    """
    from lightning.pytorch.plugins.io import AsyncCheckpointIO

    class WaitableAsyncCheckpointIO(AsyncCheckpointIO):
        def wait(self) -> None:
            # Lightning's own teardown shuts the writer thread down (the next save starts a
            # new one) and raises a write's error; the error is raised here once.
            try:
                super().teardown()
            finally:
                self._error = None

        def save_checkpoint(self, *args: Any, **kwargs: Any) -> None:
            try:
                super().save_checkpoint(*args, **kwargs)  # raises an earlier write's error
            except BaseException:
                self._error = None
                raise

        def teardown(self) -> None:
            self.wait()

    return WaitableAsyncCheckpointIO(inner)


def build_trainer(t: TrainerConfig, callbacks: FitCallbacks, logger: Any, root_dir: Path) -> Any:
    """A ``lightning.Trainer``; bad flag combinations are a one-line ConfigError."""
    import lightning as L
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    check_devices(t)
    try:
        return L.Trainer(
            **t.trainer_kwargs(),
            logger=logger if logger is not None else False,
            callbacks=callbacks.all(),
            default_root_dir=str(root_dir),
            plugins=[async_checkpoint_io(atomic_checkpoint_io())],
        )
    except (MisconfigurationException, ValueError, RuntimeError) as exc:
        raise ConfigError(f"bad trainer settings: {exc}") from None
