"""Position encodings (attention is permutation-invariant): learned and sinusoidal vectors
added to the token embedding, or rope rotating q and k so q.k depends on distance only.

All take ``(start, length)`` as Python ints, so slicing a table never syncs the device.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class LearnedPositionalEmbedding(nn.Module):
    def __init__(self, context_size: int, n_embd: int) -> None:
        super().__init__()
        # Initialised by GPT._init_weights with the rest of the model.
        self.weight = nn.Parameter(torch.empty(context_size, n_embd))

    def forward(self, start: int, length: int) -> Tensor:
        return self.weight[start : start + length]  # (T, C)


def sinusoidal_table(n_pos: int, dim: int) -> Tensor:
    """PE[p, 2i] = sin(p / 10000^(2i/dim)), PE[p, 2i+1] = cos(p / 10000^(2i/dim))."""
    # float64 so large positions keep their precision before the cast to float32.
    pos = torch.arange(n_pos, dtype=torch.float64)[:, None]  # (P, 1)
    inv_freq = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim)
    )  # (ceil(dim/2),)
    angles = pos * inv_freq  # (P, ceil(dim/2))
    table = torch.zeros(n_pos, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles[:, : dim // 2])  # odd dim has one fewer cos column
    return table.to(torch.float32)


class SinusoidalPositionalEncoding(nn.Module):
    def __init__(self, context_size: int, n_embd: int) -> None:
        super().__init__()
        # Non-persistent: a function of the config, so no checkpoint carries a stale copy.
        self.register_buffer("table", sinusoidal_table(context_size, n_embd), persistent=False)

    table: Tensor

    def forward(self, start: int, length: int) -> Tensor:
        return self.table[start : start + length]  # (T, C)


class RotaryEmbedding(nn.Module):
    """cos/sin of the rotation angles of a run of positions; channel pairs (i, i + hs/2)
    ("rotate half"), pair i at frequency base^(-2i/hs)."""

    def __init__(self, head_size: int, context_size: int, base: float) -> None:
        super().__init__()
        # float64 until the cast: float32 would lose ~1e-4 of the angles at far positions.
        pos = torch.arange(context_size, dtype=torch.float64)  # (P,)
        exponent = torch.arange(0, head_size, 2, dtype=torch.float64)
        inv_freq = base ** (-exponent / head_size)  # (hs/2,)
        angles = pos[:, None] * inv_freq[None, :]  # (P, hs/2)
        # Derived from the config, hence non-persistent.
        self.register_buffer("cos_table", torch.cos(angles).to(torch.float32), persistent=False)
        self.register_buffer("sin_table", torch.sin(angles).to(torch.float32), persistent=False)

    cos_table: Tensor
    sin_table: Tensor

    def forward(self, start: int, length: int) -> tuple[Tensor, Tensor]:
        end = start + length
        return self.cos_table[start:end], self.sin_table[start:end]  # (T, hs/2) each


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate each channel pair (x1, x2) of ``x`` (B, nh, T, hs) by the given angles."""
    half = x.size(-1) // 2
    x1, x2 = x[..., :half], x[..., half:]  # (B, nh, T, hs/2) each
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).type_as(x)
