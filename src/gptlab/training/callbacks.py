"""Callbacks: the log step (loss, lr, tokens/s, MFU), the loss history for plots, samples,
and what checkpoints need (RNG states, the save on an interrupt)."""

from __future__ import annotations

import csv
import io
import random
import re
import time
from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import TQDMProgressBar

from gptlab.io import atomic_write_text

# Dense peak FLOP/s for MFU by matmul precision (16-bit, TF32, FP32); an unknown device
# gets no MFU. Not Lightning's table: it misses or misreads H200 and L40S (BENCHMARKS.md).
PEAK_FLOPS = {
    "H100": (989e12, 494.7e12, 66.9e12),
    "H200": (989e12, 494.7e12, 66.9e12),
    "A100": (312e12, 156e12, 19.5e12),
    "L4": (121e12, 60e12, 30.3e12),
    "A10": (125e12, 62.5e12, 31.2e12),
    "4090": (165e12, 82.6e12, 82.6e12),
}


def matmul_kind(precision: str) -> str | None:
    """Which column of PEAK_FLOPS a Lightning precision flag computes in (None: no peak known)."""
    p = str(precision)
    if p.startswith(("bf16", "16")):
        return "16-bit"
    if p.startswith("32"):
        # Without set_float32_matmul_precision("high"), float32 products stay true FP32.
        return "fp32" if torch.get_float32_matmul_precision() == "highest" else "tf32"
    return None


def peak_flops(device: torch.device, precision: str = "bf16-mixed") -> float | None:
    """The device's dense peak FLOP/s in the precision the training's matrix products use."""
    if device.type != "cuda":
        return None
    kind = matmul_kind(precision)
    if kind is None:
        return None
    name = torch.cuda.get_device_name(device)
    for key, peaks in PEAK_FLOPS.items():
        # Whole model names only: "L4" must not match "NVIDIA L40S", nor "A10" "A100".
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(key)}(?![0-9])", name):
            return peaks[("16-bit", "tf32", "fp32").index(kind)]
    return None


class StepProgressBar(TQDMProgressBar):
    """A tqdm bar over optimizer steps (the endless training stream gives Lightning's none a
    total), showing :class:`StepLog`'s numbers, already read: the bar never reads a tensor."""

    def __init__(self, refresh_rate: int, step_log: StepLog):
        super().__init__(refresh_rate=refresh_rate)
        self.step_log = step_log

    def on_train_epoch_start(self, trainer, *args) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.reset(total=trainer.max_steps * trainer.accumulate_grad_batches)
        self.train_progress_bar.initial = trainer.global_step * trainer.accumulate_grad_batches
        self.train_progress_bar.set_description("train")

    def get_metrics(self, trainer, pl_module) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        out = {}
        if "val/loss" in metrics:
            out["val_loss"] = metrics.pop("val/loss")
        latest = self.step_log.latest
        if "train/loss" in latest:
            out["loss"] = f"{latest['train/loss']:.4g}"
        if "train/tokens_per_s" in latest:
            out["tok/s"] = f"{latest['train/tokens_per_s']:.0f}"
        return {**out, **metrics}


class Throughput(L.Callback):
    """Tokens per second and MFU over each log interval and over the steady state from step
    ``skip`` on (``reports/train.json``), validation left out. :meth:`mark` runs right after
    :class:`StepLog`'s loss read waited for the device (``ThroughputMonitor`` would
    synchronise after every batch)."""

    def __init__(self, tokens_per_step: int, flops_per_token: float, skip: int = 5):
        self.tokens_per_step = tokens_per_step  # all ranks together (set by fit)
        self.flops_per_token = flops_per_token
        self.skip = skip
        self.world_size = 1
        self.start_wall = 0.0
        self.peak: float | None = None
        self._meter = None
        self._excluded = 0.0  # seconds of validation since training started
        self._val_start: float | None = None
        self._first_step = 0
        self._last_mark_step = 0
        self._steady: tuple[int, float] | None = None  # (step, training seconds) where it starts
        self._last_t = 0.0
        self.tokens_per_s: float | None = None
        self.mfu: float | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        from lightning.fabric.utilities.throughput import Throughput as Meter

        self.world_size = trainer.world_size
        self.peak = peak_flops(pl_module.device, str(trainer.precision))
        # A window of 2 marks: the rate over the last log interval.
        self._meter = Meter(available_flops=self.peak, world_size=self.world_size, window_size=2)
        self.start_wall = time.perf_counter()
        self._excluded, self._val_start, self._last_t = 0.0, None, 0.0
        self._first_step = self._last_mark_step = trainer.global_step
        self._meter.update(time=0.0, batches=0, samples=0, flops=0)

    def on_validation_start(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:  # the sanity check runs before on_train_start
            self._val_start = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._end_pause()

    def _end_pause(self) -> None:
        """Lightning saves checkpoints after every other callback's ``on_validation_end``,
        so the pause ends only when training resumes."""
        if self._val_start is not None:
            self._excluded += time.perf_counter() - self._val_start
            self._val_start = None

    def _training_s(self) -> float:
        return time.perf_counter() - self.start_wall - self._excluded

    def mark(self, step: int) -> dict:
        """At a log step, after the device caught up: the interval's tokens/s (and MFU)."""
        t = self._training_s()
        if self._meter is None or step <= self._last_mark_step or t <= self._last_t:
            return {}
        if self._steady is None and step >= self.skip:
            self._steady = (step, t)
        per_device = self.tokens_per_step / self.world_size
        steps = step - self._first_step
        self._meter.update(
            time=t, batches=steps, samples=int(steps * per_device),
            flops=int((step - self._last_mark_step) * per_device * self.flops_per_token),
        )  # fmt: skip
        self._last_mark_step, self._last_t = step, t
        m = self._meter.compute()
        out = {"train/tokens_per_s": m["device/samples_per_sec"] * self.world_size}
        if "device/mfu" in m:
            out["train/mfu"] = m["device/mfu"]
        return out

    def on_train_end(self, trainer, pl_module) -> None:
        self._end_pause()
        if self._steady is None or trainer.global_step <= self._steady[0]:
            return
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)  # once, at the end: the last steps' time
        step0, t0 = self._steady
        self.tokens_per_s = self.tokens_per_step * (trainer.global_step - step0) / max(self._training_s() - t0, 1e-9)
        if self.peak:
            self.mfu = self.tokens_per_s / self.world_size * self.flops_per_token / self.peak

    @property
    def wall_s(self) -> float:
        return time.perf_counter() - self.start_wall


def wait_for_checkpoints(trainer) -> None:
    """Block until the background checkpoint writes are on disk; raise a write's error here."""
    wait = getattr(trainer.strategy.checkpoint_io, "wait", None)
    if wait is not None:
        wait()


class StepLog(L.Callback):
    """Every ``every`` optimizer steps, the one read of a tensor (the loss, NaN-checked), then
    the loss curve and the loggers' and bar's numbers; between log steps the host runs ahead
    of the device. Checkpoint writes are waited for here: a SIGKILL loses one interval at most."""

    def __init__(self, every: int, history: LossHistory, throughput: Throughput):
        self.every = max(1, every)
        self.history = history
        self.throughput = throughput
        self.latest: dict[str, float] = {}
        self._last_step = 0

    def on_train_start(self, trainer, pl_module) -> None:
        self._last_step = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step == self._last_step or step % self.every:
            return  # still accumulating gradients for this step, or not a log step
        self._last_step = step
        loss = pl_module.read_train_loss()
        self.history.add_train(step, loss)
        self.latest = {"train/loss": loss, "train/lr": pl_module.lr_at(step - 1), **self.throughput.mark(step)}
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(self.latest, step=step)
        wait_for_checkpoints(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        # Before the other callbacks' on_train_end (a user's may stop disk writes there).
        wait_for_checkpoints(trainer)


class LossHistory(L.Callback):
    """Train loss per log step and val loss per validation, as DVC plots CSVs."""

    def __init__(self, plots_dir: str | Path):
        self.plots_dir = Path(plots_dir)
        self.train: list[tuple[int, float]] = []
        self.val: list[tuple[int, float]] = []

    def add_train(self, step: int, loss: float) -> None:
        """One training loss, read at a log step by :class:`StepLog`."""
        if not self.train or self.train[-1][0] != step:
            self.train.append((step, loss))

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        val = trainer.callback_metrics.get("val/loss")
        if val is not None:
            self.val.append((trainer.global_step, float(val)))
        if trainer.is_global_zero:
            self.write()

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.write()

    def state_dict(self) -> dict:
        return {"train": self.train, "val": self.val}

    def load_state_dict(self, state: dict) -> None:
        self.train = [tuple(x) for x in state.get("train", [])]
        self.val = [tuple(x) for x in state.get("val", [])]

    def write(self) -> None:
        for name, rows, col in (("train_loss.csv", self.train, "train_loss"), ("val_loss.csv", self.val, "val_loss")):
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(["step", col])
            w.writerows((s, f"{v:.6f}") for s, v in rows)
            atomic_write_text(self.plots_dir / name, buf.getvalue())


class PeriodicSample(L.Callback):
    """Every ``every_n_val`` validations, generate a short text (the seeds' progress check)."""

    def __init__(self, every_n_val: int, make_text: Callable[[torch.nn.Module], str], sink: Callable[[int, str], None]):
        self.every_n_val = every_n_val
        self.make_text = make_text
        self.sink = sink
        self.count = 0

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or self.every_n_val <= 0:
            return
        self.count += 1
        if self.count % self.every_n_val or not trainer.is_global_zero:
            return
        text = self.make_text(pl_module.model)
        self.sink(trainer.global_step, text)


class RNGState(L.Callback):
    """The global RNG states (torch, numpy, python) in checkpoints, which Lightning does not
    restore: else a resumed run draws other dropout masks than the uninterrupted one."""

    def state_dict(self) -> dict:
        # Plain types only: Lightning loads checkpoints with torch.load(weights_only=True).
        name, keys, pos, has_gauss, gauss = np.random.get_state()
        state = {
            "torch": torch.get_rng_state(),
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
            "python": random.getstate(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict) -> None:
        torch.set_rng_state(state["torch"])
        name, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        random.setstate(state["python"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


class InterruptCheckpoint(L.Callback):
    """On Ctrl-C or SIGTERM, save ``last.ckpt`` (resume with train.resume=last); other
    exceptions (a NaN loss, a bug) save nothing, so the last good checkpoint stays."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            trainer.save_checkpoint(self.path)
            if trainer.is_global_zero:
                print(f"\ninterrupted at step {trainer.global_step}: saved {self.path} (resume with train.resume=last)",
                      flush=True)
