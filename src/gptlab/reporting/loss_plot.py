"""Training and validation loss against step: the picture the seed course draws."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gptlab.reporting.figure import pyplot, save_png


def plot_loss_curves(
    train: Sequence[tuple[int, float]], val: Sequence[tuple[int, float]], out: str | Path, title: str = "loss"
) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    if train:
        ax.plot([s for s, _ in train], [v for _, v in train], label="train", linewidth=1.0, alpha=0.8)
    if val:
        ax.plot([s for s, _ in val], [v for _, v in val], label="validation", marker="o", linewidth=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss (nats/token)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_png(fig, out)
