"""Validation loss by position in the context window: how much each extra token of context
helps. Only whole windows, so every position averages the same ones."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gptlab.errors import DataError


@dataclass(frozen=True)
class PositionLoss:
    loss: tuple[float, ...]  # mean nats at each position, len = context_size
    windows: int  # windows averaged at every position


def loss_by_position(model: Any, tokens: np.ndarray, *, batch_size: int = 32, device: Any = "cpu") -> PositionLoss:
    """Mean next-token loss (nats) at each position of the context window over ``tokens``."""
    import torch
    import torch.nn.functional as F

    from gptlab.model.eval_mode import eval_mode

    T = int(model.config.context_size)
    n_windows = (len(tokens) - 1) // T
    if n_windows < 1:
        raise DataError(f"{len(tokens)} tokens are fewer than one window of context_size={T} (+1)")
    sums = torch.zeros(T, dtype=torch.float64)
    with eval_mode(model), torch.no_grad():
        for first in range(0, n_windows, batch_size):
            starts = range(first * T, min(first + batch_size, n_windows) * T, T)
            block = np.stack([np.asarray(tokens[s : s + T + 1], dtype=np.int64) for s in starts])
            block_t = torch.from_numpy(block).to(device)
            logits, _ = model(block_t[:, :-1])  # (B, T, V)
            loss = F.cross_entropy(logits.float().transpose(1, 2), block_t[:, 1:], reduction="none")  # (B, T)
            sums += loss.double().sum(dim=0).cpu()
    return PositionLoss(loss=tuple((sums / n_windows).tolist()), windows=n_windows)


def write_position_losses(path: str | Path, losses: Mapping[str, PositionLoss]) -> Path:
    """A CSV with a ``position`` column and one column of mean nats per model (same context)."""
    from gptlab.io import atomic_write_text

    names = list(losses)
    lengths = {len(losses[n].loss) for n in names}
    if len(lengths) != 1:
        raise ValueError(f"models of different context sizes cannot share a table: {sorted(lengths)}")
    rows = [",".join(["position", *names])]
    for p in range(lengths.pop()):
        rows.append(",".join([str(p), *(f"{losses[n].loss[p]:.4f}" for n in names)]))
    path = Path(path)
    atomic_write_text(path, "\n".join(rows) + "\n")
    return path
