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
    ) -> Tensor:
        # Pre-norm: the residual stream itself is never normalised, so gradients reach
        # early layers undiminished and deep stacks train without warm-up tricks.
        x = x + self.attn(self.norm1(x), rope, kv_cache, layer)  # (B, T, C)
        x = x + self.mlp(self.norm2(x))  # (B, T, C)
        return x

    def forward_with_probs(self, x: Tensor, rope: RopeAngles | None = None) -> tuple[Tensor, Tensor]:
        """Same as forward (without cache), also returning attention probabilities."""
        y, probs = self.attn.forward_explicit(self.norm1(x), rope)
        x = x + y
        x = x + self.mlp(self.norm2(x))
        return x, probs  # (B, T, C), (B, nh, T, T)
