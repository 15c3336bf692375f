"""Batches of token windows from the ``build`` stage's memmapped ``.bin`` files.

Training batch ``i`` on rank ``r`` is drawn from a generator seeded with ``(seed, r, i)``,
so a resumed run draws the batches the uninterrupted one would, given only the batch
counter in the checkpoint; validation uses fixed windows, comparable between runs.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from gptlab.dataset.integrity import open_split
from gptlab.dataset.meta import DatasetMeta

# A split goes to the device when its int64 tokens take at most this share of the free
# device memory (the model, activations and optimizer state need the rest).
DEVICE_SHARE = 0.25
# Tokens per copy when a split is uploaded (bounds the host memory the upload needs).
UPLOAD_CHUNK = 1 << 26
# Batches a worker thread cuts ahead when the split stays on the host for a GPU.
PREFETCH = 4


def window_block(data: np.ndarray, starts: np.ndarray, context: int) -> torch.Tensor:
    """The ``context + 1`` tokens from each of ``starts``: (B, T + 1), int64, one gather."""
    idx = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(context + 1)
    return torch.from_numpy(np.asarray(data[idx], dtype=np.int64))


def fits_on_device(nbytes: int, device: torch.device) -> bool:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return nbytes <= DEVICE_SHARE * free
    return device.type != "cpu" and nbytes <= 256 * 2**20  # e.g. MPS: no free-memory query


class SplitWindows:
    """Cuts (x, y) windows out of one split on ``device``, so that a step never waits for its
    batch: on a GPU the split is held on the device when it fits, else cut into pinned
    memory; on the CPU the memmap is cut directly (BENCHMARKS.md, "Training")."""

    def __init__(self, data: np.ndarray, context: int, device: torch.device | str | None = None,
                 resident: bool | None = None):  # fmt: skip
        """``resident``: keep the split as a tensor on ``device`` (None: on an accelerator, when it fits)."""
        self.data = data
        self.context = context
        self.device = torch.device(device or "cpu")
        self.pinned = self.device.type == "cuda"  # host batches pinned: a GPU's copies never block
        self.tokens: torch.Tensor | None = None  # the split on the device, when it fits
        if resident is None:
            resident = self.device.type != "cpu" and fits_on_device(len(data) * 8, self.device)
        if resident:
            self.tokens = torch.empty(len(data), dtype=torch.int64, device=self.device)
            for i in range(0, len(data), UPLOAD_CHUNK):
                chunk = np.asarray(data[i : i + UPLOAD_CHUNK], dtype=np.int64)
                self.tokens[i : i + len(chunk)].copy_(torch.from_numpy(chunk))
            self.offsets = torch.arange(context + 1, device=self.device)

    @property
    def on_device(self) -> bool:
        return self.tokens is not None

    def __len__(self) -> int:
        return len(self.data)

    def __call__(self, starts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        if self.tokens is None:
            block = window_block(self.data, starts, self.context)
            if self.pinned:
                block = block.pin_memory()
        else:
            s = torch.from_numpy(np.asarray(starts, dtype=np.int64))
            if self.pinned:
                s = s.pin_memory()
            s = s.to(self.device, non_blocking=True)
            block = self.tokens[s[:, None] + self.offsets]
        return block[:, :-1], block[:, 1:]


class BatchCounter:
    """How many training batches this run has drawn (shared with the dataset)."""

    def __init__(self) -> None:
        self.value = 0


class RandomWindows(IterableDataset):
    """An endless stream of ready-made (x, y) batches of random windows.

    ``prefetch`` > 0: a worker thread cuts that many batches ahead (for a split that
    stays on the host while training runs on a GPU); the stream is the same.
    """

    def __init__(self, data: np.ndarray, context: int, batch_size: int, seed: int, rank: int, counter: BatchCounter,
                 device: torch.device | str | None = None, prefetch: int = 0):  # fmt: skip
        self.windows = SplitWindows(data, context, device)
        self.context = context
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.counter = counter
        self.prefetch = prefetch

    def starts(self, i: int) -> np.ndarray:
        """Where the windows of batch ``i`` start: a function of (seed, rank, i) only."""
        high = len(self.windows) - self.context - 1
        return np.random.default_rng([self.seed, self.rank, i]).integers(0, high + 1, size=self.batch_size)

    def __iter__(self):
        if self.prefetch > 0:
            yield from self._prefetched()
            return
        while True:
            i = self.counter.value
            batch = self.windows(self.starts(i))
            self.counter.value = i + 1
            yield batch

    def _prefetched(self):
        first = self.counter.value
        ready: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def work() -> None:
            i = first
            while not stop.is_set():
                try:
                    item = (i, self.windows(self.starts(i)), None)
                except BaseException as exc:  # noqa: BLE001 - handed to the training thread
                    item = (i, None, exc)
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if item[2] is not None:
                    return
                i += 1

        worker = threading.Thread(target=work, name="gptlab-batches", daemon=True)
        worker.start()
        try:
            while True:
                i, batch, error = ready.get()
                if error is not None:
                    raise error
                self.counter.value = i + 1
                yield batch
        finally:
            stop.set()


class FixedWindows(Dataset):
    """``n`` windows evenly spaced over the split, the same for every run, in batches of
    ``batch_size`` (item ``i`` is batch ``i``: no per-window collation)."""

    def __init__(self, data: np.ndarray, context: int, n: int, batch_size: int = 1,
                 device: torch.device | str | None = None):  # fmt: skip
        self.windows = SplitWindows(data, context, device)
        self.context = context
        self.batch_size = batch_size
        high = len(data) - context - 1
        self.starts = np.unique(np.linspace(0, high, num=n).astype(np.int64))

    def __len__(self) -> int:
        return -(-len(self.starts) // self.batch_size)

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.windows(self.starts[i * self.batch_size : (i + 1) * self.batch_size])


@dataclass(frozen=True)
class DataSettings:
    processed_dir: str
    context_size: int
    batch_size: int
    val_batches: int
    seed: int
    num_workers: int = 0


class TokenDataModule(L.LightningDataModule):
    def __init__(self, settings: DataSettings, meta: DatasetMeta):
        super().__init__()
        self.settings = settings
        self.meta = meta
        self.counter = BatchCounter()
        self._train: np.ndarray | None = None
        self._val: np.ndarray | None = None

    def setup(self, stage: str | None = None) -> None:
        d = Path(self.settings.processed_dir)
        # Checked against meta.json (size, and sha256), whose sizes training_lineage checked
        # hold a window each, before a single token is used.
        self._train = open_split(d, self.meta, "train")
        self._val = open_split(d, self.meta, "val")

    def _device(self) -> torch.device:
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    def train_dataloader(self) -> DataLoader:
        s = self.settings
        rank = self.trainer.global_rank if self.trainer is not None else 0
        device = self._device()
        ds = RandomWindows(self._train, s.context_size, s.batch_size, s.seed, rank, self.counter, device)
        if device.type == "cuda" and not ds.windows.on_device:
            ds.prefetch = PREFETCH
        # batch_size=None: the dataset yields whole batches (no per-sample collate cost).
        # A private generator: creating a loader iterator draws a seed, and it must not
        # come from the global RNG, or a resumed run's dropout masks would differ.
        return DataLoader(ds, batch_size=None, num_workers=0, generator=torch.Generator())

    def val_dataloader(self) -> DataLoader:
        s = self.settings
        # Worker processes cannot hand out device tensors: with workers, batches are cut on the host.
        device = self._device() if s.num_workers == 0 else torch.device("cpu")
        ds = FixedWindows(self._val, s.context_size, s.val_batches * s.batch_size, s.batch_size, device)
        return DataLoader(
            ds, batch_size=None, shuffle=False, num_workers=s.num_workers, generator=torch.Generator(),
            pin_memory=s.num_workers > 0 and self._device().type == "cuda",
        )  # fmt: skip

    def state_dict(self) -> dict:
        # The loader prefetches a batch ahead, so the counter can run ahead of training;
        # the trainer's count of processed batches is exact at every checkpoint point.
        drawn = self.counter.value
        if self.trainer is not None:
            drawn = self.trainer.fit_loop.epoch_loop.batch_progress.total.processed
        return {"batches_drawn": int(drawn)}

    def load_state_dict(self, state: dict) -> None:
        self.counter.value = int(state.get("batches_drawn", 0))
