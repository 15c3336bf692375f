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

    from gptlab.training import callbacks as cb

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
    throughput = cb.Throughput(tokens_per_step=0, flops_per_token=flops_per_token)
    history = cb.LossHistory(plots_dir)
    step_log = cb.StepLog(trainer_cfg.log_every_n_steps, history, throughput)
    # Redrawing the bar every step costs ~15% of a small model's step time on a CPU.
    bar = [cb.StepProgressBar(refresh_rate=20, step_log=step_log)] if trainer_cfg.enable_progress_bar else []
    return FitCallbacks(
        checkpoint=checkpoint,
        throughput=throughput,
        history=history,
        step_log=step_log,
        others=[
            *bar,
            cb.RNGState(),
            cb.InterruptCheckpoint(checkpoints / "last.ckpt"),
            cb.PeriodicSample(train_cfg.sample_every_n_val, samples.make, samples.keep),
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


def build_trainer(t: TrainerConfig, callbacks: FitCallbacks, logger: Any, root_dir: Path) -> Any:
    """A ``lightning.Trainer``; bad flag combinations are a one-line ConfigError."""
    # Lightning is imported here, not with this module (fit.py's import): it takes ~3 s.
    import lightning as L
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from gptlab.training.checkpoint_io import AtomicCheckpointIO, WaitableAsyncCheckpointIO

    check_devices(t)
    try:
        return L.Trainer(
            **t.trainer_kwargs(),
            logger=logger if logger is not None else False,
            callbacks=callbacks.all(),
            default_root_dir=str(root_dir),
            plugins=[WaitableAsyncCheckpointIO(AtomicCheckpointIO())],
        )
    except (MisconfigurationException, ValueError, RuntimeError) as exc:
        raise ConfigError(f"bad trainer settings: {exc}") from None
