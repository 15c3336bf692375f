"""Callbacks: throughput (tokens/s, MFU), the loss history for plots, and samples."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import TQDMProgressBar

from gptlab.io import atomic_write_text

# Dense bf16 peak FLOP/s of common accelerators, for MFU. Unknown devices (CPUs
# included) get no MFU rather than a made-up one.
PEAK_FLOPS = {
    "H100": 989e12,
    "H200": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "A10": 125e12,
    "4090": 165e12,
}


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    import re

    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_FLOPS.items():
        # Whole model names only: "L4" must not match "NVIDIA L40S", nor "A10" "A100".
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(key)}(?![0-9])", name):
            return value
    return None


class StepProgressBar(TQDMProgressBar):
    """A tqdm bar over optimizer steps (the training stream is endless, so Lightning's
    default bar has no total), showing loss and tokens/s."""

    def on_train_epoch_start(self, trainer, *args) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.reset(total=trainer.max_steps * trainer.accumulate_grad_batches)
        self.train_progress_bar.initial = trainer.global_step * trainer.accumulate_grad_batches
        self.train_progress_bar.set_description("train")

    def get_metrics(self, trainer, pl_module) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        short = {"train/loss": "loss", "val/loss": "val_loss", "train/tokens_per_s": "tok/s"}
        out = {}
        for key, value in metrics.items():
            if key == "v_num":
                continue
            if key == "train/tokens_per_s":
                value = f"{float(value):.0f}"
            out[short.get(key, key)] = value
        return out


class Throughput(L.Callback):
    """Tokens per second over the last ``window`` optimizer steps, and MFU where known.

    Also keeps the totals that go into ``reports/train.json``. The timer skips the
    first steps (warm-up, compilation) so the steady state is what is reported.
    """

    def __init__(self, tokens_per_step: int, flops_per_token: float, window: int = 10, skip: int = 5):
        self.tokens_per_step = tokens_per_step
        self.flops_per_token = flops_per_token
        self.window = window
        self.skip = skip
        self.start_wall = 0.0
        self.steady_start: float | None = None
        self.steady_steps = 0
        self.steady_excluded = 0.0  # seconds spent in validation inside the steady window
        self._val_start: float | None = None
        self._last_t = 0.0
        self._last_step = 0
        self.tokens_per_s: float | None = None
        self.mfu: float | None = None
        self.peak: float | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self.start_wall = time.perf_counter()
        self.peak = peak_flops(pl_module.device)
        self._last_t = self.start_wall
        self._last_step = trainer.global_step

    def on_validation_start(self, trainer, pl_module) -> None:
        self._val_start = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._end_pause()

    def _end_pause(self) -> None:
        """Leave validation time out of the throughput, and the checkpoint writes after it:
        Lightning saves checkpoints after every other callback's ``on_validation_end``, so
        the pause ends only when training resumes."""
        if self._val_start is None:
            return
        spent = time.perf_counter() - self._val_start
        self._val_start = None
        self._last_t += spent
        if self.steady_start is not None:
            self.steady_excluded += spent

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step == self._last_step:
            return  # still accumulating gradients for this step
        now = time.perf_counter()
        if self.steady_start is None and step >= self.skip:
            self.steady_start, self.steady_steps = now, step
        if step - self._last_step >= self.window:
            rate = self.tokens_per_step * (step - self._last_step) / max(now - self._last_t, 1e-9)
            pl_module.log("train/tokens_per_s", rate, on_step=True, prog_bar=True, rank_zero_only=True)
            if self.peak:
                pl_module.log("train/mfu", rate * self.flops_per_token / self.peak, on_step=True, rank_zero_only=True)
            self._last_t, self._last_step = now, step

    def on_train_end(self, trainer, pl_module) -> None:
        self._end_pause()
        now = time.perf_counter()
        if self.steady_start is not None and trainer.global_step > self.steady_steps:
            elapsed = now - self.steady_start - self.steady_excluded
            self.tokens_per_s = self.tokens_per_step * (trainer.global_step - self.steady_steps) / max(elapsed, 1e-9)
            if self.peak:
                self.mfu = self.tokens_per_s * self.flops_per_token / self.peak

    @property
    def wall_s(self) -> float:
        return time.perf_counter() - self.start_wall


class LossHistory(L.Callback):
    """Train loss per logged step and val loss per validation, as DVC plots CSVs."""

    def __init__(self, plots_dir: str | Path, every: int):
        self.plots_dir = Path(plots_dir)
        self.every = max(1, every)
        self.train: list[tuple[int, float]] = []
        self.val: list[tuple[int, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every == 0 and outputs is not None and (not self.train or self.train[-1][0] != step):
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            self.train.append((step, float(loss.detach()) * trainer.accumulate_grad_batches))

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
    """Save and restore the global RNG states (torch, numpy, python) in checkpoints.

    Lightning restores model, optimizer, scheduler and loops but not the RNGs; without
    this a resumed run draws different dropout masks than the uninterrupted one.
    """

    def state_dict(self) -> dict:
        import random

        import numpy as np

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
        import random

        import numpy as np

        torch.set_rng_state(state["torch"])
        name, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        random.setstate(state["python"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


class InterruptCheckpoint(L.Callback):
    """On Ctrl-C or SIGTERM, save ``last.ckpt`` before exiting (resume with train.resume=last).

    Other exceptions (a NaN loss, a bug) save nothing, so the last good checkpoint stays.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            trainer.save_checkpoint(self.path)
            if trainer.is_global_zero:
                print(f"\ninterrupted at step {trainer.global_step}: saved {self.path} (resume with train.resume=last)",
                      flush=True)
