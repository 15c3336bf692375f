"""Batches of token windows from the ``build`` stage's memmapped ``.bin`` files.

Training windows are random but *stateless*: batch ``i`` on rank ``r`` is drawn from a
generator seeded with ``(seed, r, i)``. So every rank draws different windows, and a
resumed run draws exactly the batches the uninterrupted run would have, given only the
batch counter (kept in the checkpoint through the datamodule's ``state_dict``).

Validation uses fixed windows spread evenly over the split, so the number is
comparable between runs and between steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from gptlab.dataset.integrity import open_split
from gptlab.dataset.meta import DatasetMeta
from gptlab.errors import DataError


def windows_at(data: np.ndarray, starts: np.ndarray, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-token targets for windows starting at ``starts``: (B, T) each."""
    block = np.stack([np.asarray(data[s : s + context + 1], dtype=np.int64) for s in starts])
    block_t = torch.from_numpy(block)
    return block_t[:, :-1], block_t[:, 1:]


class BatchCounter:
    """How many training batches this run has drawn (shared with the dataset)."""

    def __init__(self) -> None:
        self.value = 0


class RandomWindows(IterableDataset):
    """An endless stream of ready-made (x, y) batches of random windows."""

    def __init__(self, data: np.ndarray, context: int, batch_size: int, seed: int, rank: int, counter: BatchCounter):
        self.data = data
        self.context = context
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.counter = counter

    def __iter__(self):
        high = len(self.data) - self.context - 1
        while True:
            i = self.counter.value
            rng = np.random.default_rng([self.seed, self.rank, i])
            starts = rng.integers(0, high + 1, size=self.batch_size)
            self.counter.value = i + 1
            yield windows_at(self.data, starts, self.context)


class FixedWindows(Dataset):
    """``n`` windows evenly spaced over the split, the same for every run."""

    def __init__(self, data: np.ndarray, context: int, n: int):
        self.data = data
        self.context = context
        high = len(data) - context - 1
        self.starts = np.unique(np.linspace(0, high, num=n).astype(np.int64))

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int):
        x, y = windows_at(self.data, self.starts[i : i + 1], self.context)
        return x[0], y[0]


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
        s = self.settings
        d = Path(s.processed_dir)
        # Checked against meta.json (size, and sha256) before a single token is used.
        self._train = open_split(d, self.meta, "train")
        self._val = open_split(d, self.meta, "val")
        for name, data in (("train", self._train), ("val", self._val)):
            if len(data) < s.context_size + 2:
                raise DataError(
                    f"the {name} split has {len(data):,} tokens, fewer than one window of "
                    f"model.context_size={s.context_size} (+1): use a smaller context_size or a larger corpus"
                )

    def train_dataloader(self) -> DataLoader:
        s = self.settings
        rank = self.trainer.global_rank if self.trainer is not None else 0
        ds = RandomWindows(self._train, s.context_size, s.batch_size, s.seed, rank, self.counter)
        # batch_size=None: the dataset yields whole batches (no per-sample collate cost).
        # A private generator: creating a loader iterator draws a seed, and it must not
        # come from the global RNG, or a resumed run's dropout masks would differ.
        return DataLoader(ds, batch_size=None, num_workers=0, generator=torch.Generator())

    def val_dataloader(self) -> DataLoader:
        s = self.settings
        ds = FixedWindows(self._val, s.context_size, s.val_batches * s.batch_size)
        return DataLoader(
            ds, batch_size=s.batch_size, shuffle=False, num_workers=s.num_workers, generator=torch.Generator()
        )

    def state_dict(self) -> dict:
        # The loader prefetches a batch ahead, so the counter can run ahead of training;
        # the trainer's count of processed batches is exact at every checkpoint point.
        drawn = self.counter.value
        if self.trainer is not None:
            drawn = self.trainer.fit_loop.epoch_loop.batch_progress.total.processed
        return {"batches_drawn": int(drawn)}

    def load_state_dict(self, state: dict) -> None:
        self.counter.value = int(state.get("batches_drawn", 0))
