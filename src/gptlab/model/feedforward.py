"""Position-wise feed-forward network: where most of a block's parameters live."""

from __future__ import annotations

from torch import Tensor, nn

from gptlab.model.config import GPTConfig


class FeedForward(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        hidden = config.ffn_mult * config.n_embd
        self.up_proj = nn.Linear(config.n_embd, hidden, bias=config.bias)
        self.act = activation(config.activation)
        # Writes into the residual stream: GPT._init_weights gives it a smaller init.
        self.down_proj = nn.Linear(hidden, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        # x: (B, T, C) -> (B, T, ffn_mult*C) -> (B, T, C)
        return self.dropout(self.down_proj(self.act(self.up_proj(x))))


def activation(name: str) -> nn.Module:
    """gelu: exact (erf) GELU. gelu_tanh: GPT-2's tanh approximation, which pretrained
    GPT-2 weights need to give their own logits. relu: max(0, x)."""
    if name == "gelu":
        return nn.GELU()
    if name == "gelu_tanh":
        return nn.GELU(approximate="tanh")
    return nn.ReLU()
