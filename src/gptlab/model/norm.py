"""Normalisation layers applied before each sub-layer and before the output head."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gptlab.model.config import GPTConfig

EPS = 1e-5


class RMSNorm(nn.Module):
    """LayerNorm without mean-centring or bias: cheaper, and works as well in practice."""

    def __init__(self, dim: int, eps: float = EPS) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        # The mean of squares overflows/underflows easily in half precision.
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return xf.type_as(x) * self.weight


def build_norm(config: GPTConfig) -> nn.Module:
    if config.norm == "rmsnorm":
        return RMSNorm(config.n_embd)
    return nn.LayerNorm(config.n_embd, eps=EPS, bias=config.bias)
