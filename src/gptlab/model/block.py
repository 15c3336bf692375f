"""One transformer block: attention then feed-forward, each on a residual branch."""

from __future__ import annotations

from torch import Tensor, nn

from gptlab.model.attention import CausalSelfAttention, RopeAngles
from gptlab.model.config import GPTConfig
from gptlab.model.feedforward import FeedForward
from gptlab.model.kv_cache import KVCache
from gptlab.model.norm import build_norm


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.norm1 = build_norm(config)
        self.attn = CausalSelfAttention(config)
        self.norm2 = build_norm(config)
        self.mlp = FeedForward(config)

    def forward(
        self,
        x: Tensor,
        rope: RopeAngles | None = None,
        kv_cache: KVCache | None = None,
        layer: int = 0,
        return_attn: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """x (B, T, C) -> (x (B, T, C), attention probabilities (B, nh, T, S) or None)."""
        # Pre-norm: the residual stream itself is never normalised, so gradients reach
        # early layers undiminished and deep stacks train without warm-up tricks.
        y, probs = self.attn(self.norm1(x), rope, kv_cache, layer, return_attn)
        x = x + y  # (B, T, C)
        x = x + self.mlp(self.norm2(x))  # (B, T, C)
        return x, probs
