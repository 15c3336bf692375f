"""Per-layer key/value cache: causal attention never changes past keys and values, so a
step computes only the new token's. Preallocated to ``max_len`` (appending is a slice
write) and counted in a Python int (no device sync).
"""

from __future__ import annotations

import torch
from torch import Tensor


class KVCache:
    def __init__(
        self,
        n_layer: int,
        batch_size: int,
        n_head: int,
        head_size: int,
        max_len: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if min(n_layer, batch_size, n_head, head_size, max_len) <= 0:
            raise ValueError("KVCache sizes must all be positive")
        shape = (n_layer, batch_size, n_head, max_len, head_size)
        # k[layer] / v[layer] is the (B, nh, max_len, hs) tensor for one layer.
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0  # number of valid positions, filled from the left

    @property
    def n_layer(self) -> int:
        return self.k.size(0)

    @property
    def batch_size(self) -> int:
        return self.k.size(1)

    @property
    def max_len(self) -> int:
        return self.k.size(3)

    def reset(self) -> None:
        # Stale entries past `length` are never read, so no need to zero them.
        self.length = 0

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write the new (B, nh, T, hs) keys/values after the cached ones; return all of
        ``layer``'s, (B, nh, length+T, hs). ``length`` moves only in :meth:`advance`."""
        end = self.length + k.size(2)
        if end > self.max_len:
            raise ValueError(
                f"KV cache overflow: {self.length} cached + {k.size(2)} new > max_len {self.max_len}"
            )
        self.k[layer, :, :, self.length : end] = k
        self.v[layer, :, :, self.length : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def advance(self, n: int) -> None:
        self.length += n

    def index_select(self, index: Tensor) -> None:
        """Keep/reorder/duplicate batch rows, e.g. after a beam search step."""
        index = index.to(self.k.device)
        self.k = self.k.index_select(1, index)
        self.v = self.v.index_select(1, index)
