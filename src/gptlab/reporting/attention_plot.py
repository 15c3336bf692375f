"""A grid of attention maps, one panel per (layer, head): row = query, column = key, the
masked future white, the colour scale fixed to [0, 1] so panels compare directly.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gptlab.reporting.figure import pyplot, save_png

# Whitespace drawn as a visible glyph (all present in matplotlib's bundled DejaVu Sans).
_VISIBLE = {"\n": "⏎", " ": "·", "\t": "⇥", "\r": "␍"}
_MAX_LABEL = 12  # characters: longer BPE tokens are shortened with an ellipsis
_MAX_FIGURE = 24.0  # inches: bounds the PNG of a many-layer, many-head model


def visible_token(text: str) -> str:
    """A tick label for one token's text: whitespace and control characters made visible."""
    out = []
    for ch in text:
        if ch in _VISIBLE:
            out.append(_VISIBLE[ch])
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            out.append(ascii(ch)[1:-1])  # e.g. \x00, \u200b
        else:
            out.append(ch)
    label = "".join(out) or "∅"
    return label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1] + "…"


def plot_attention(
    maps: np.ndarray,
    tokens: Sequence[str],
    out: str | Path,
    title: str | None = None,
) -> Path:
    """Draw ``maps`` (n_layer, n_head, T, T) with ``tokens`` (T token texts) as labels; write a PNG."""
    return save_png(attention_figure(maps, tokens, title), out)


def attention_figure(maps: np.ndarray, tokens: Sequence[str], title: str | None = None):
    """The matplotlib Figure :func:`plot_attention` saves (the caller closes it)."""
    plt = pyplot()
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 4 or maps.shape[2] != maps.shape[3] or maps.shape[2] != len(tokens):
        raise ValueError(f"maps must be (n_layer, n_head, T, T) with T={len(tokens)} tokens, got {maps.shape}")
    n_layer, n_head, T, _ = maps.shape
    labels = [visible_token(t) for t in tokens]
    # Panels grow with the sequence so labels stay legible, up to a whole figure of
    # about _MAX_FIGURE inches a side; the label font then follows the cell size.
    panel = float(np.clip(0.16 * T + 0.8, 2.4, 7.0))
    panel = max(1.5, min(panel, _MAX_FIGURE / n_head, _MAX_FIGURE / n_layer))
    cell_points = 72.0 * panel / T
    fontsize = float(np.clip(0.7 * cell_points, 4.0, 9.0))
    fig, axes = plt.subplots(
        n_layer,
        n_head,
        figsize=(n_head * panel + 1.2, n_layer * panel + (0.8 if title else 0.4)),
        dpi=110,
        squeeze=False,
        layout="constrained",
    )
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")  # the masked (future) positions
    future = np.triu(np.ones((T, T), dtype=bool), k=1)
    image = None
    for layer in range(n_layer):
        for head in range(n_head):
            ax = axes[layer][head]
            image = ax.imshow(
                np.ma.masked_array(maps[layer, head], mask=future),
                cmap=cmap,
                vmin=0.0,
                vmax=1.0,
                interpolation="nearest",
            )
            ax.set_title(f"layer {layer} · head {head}", fontsize=9)
            ax.set_xticks(range(T))
            ax.set_yticks(range(T))
            # Labels on the outer panels only: inner ones share the same tokens.
            if layer == n_layer - 1:
                ax.set_xticklabels(labels, rotation=90, fontsize=fontsize)
                ax.set_xlabel("key (attended to)", fontsize=8)
            else:
                ax.set_xticklabels([])
            if head == 0:
                ax.set_yticklabels(labels, fontsize=fontsize)
                ax.set_ylabel("query", fontsize=8)
            else:
                ax.set_yticklabels([])
            ax.tick_params(length=2, pad=1)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8, label="attention weight")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
