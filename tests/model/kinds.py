"""Configs of every model kind from conf/model/, made tiny, for the family's tests."""

from __future__ import annotations

from typing import Any

import torch

from gptlab.model import ModelConfig, build_model, parse_model_config
from tests.helpers import conf_values

# conf/model/<option>.yaml of each kind
OPTIONS = {"gpt": "tiny", "bigram": "bigram", "rnn": "rnn", "lstm": "lstm", "gru": "gru"}
RECURRENT = ("rnn", "lstm", "gru")
# Small enough for a test to train in seconds; the rest is the option's own.
TINY: dict[str, dict[str, Any]] = {
    "gpt": {"context_size": 12, "n_layer": 2, "n_head": 2, "n_embd": 16},
    "bigram": {"context_size": 12},
    **{k: {"context_size": 12, "n_layer": 2, "n_embd": 16} for k in RECURRENT},
}


def kind_config(kind: str, vocab_size: int = 23, **overrides: Any) -> ModelConfig:
    """conf/model/<option>.yaml of ``kind``, tiny, ``overrides`` on top."""
    values = {**conf_values("model", f"model={OPTIONS[kind]}"), **TINY[kind], **overrides}
    return parse_model_config(values, vocab_size=vocab_size)


def kind_model(kind: str, seed: int = 0, scale: float | None = None, **overrides: Any) -> torch.nn.Module:
    """A seeded model of ``kind`` in eval mode; ``scale`` re-draws every matrix larger, so
    every token matters to the logits (the init's are nearly constant)."""
    torch.manual_seed(seed)
    model = build_model(kind_config(kind, **overrides))
    if scale is not None:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() >= 2:
                    p.copy_(torch.randn(p.shape, generator=g) * scale)
    return model.eval()


def train_on(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int) -> float:
    """``steps`` AdamW steps on the one batch (x, y); the last loss."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.detach())
