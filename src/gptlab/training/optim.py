"""AdamW with weight decay on matrices only (embeddings and linear weights)."""

from __future__ import annotations

import torch
from torch import nn

from gptlab.training.config import OptimConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay every parameter with >= 2 dims, never biases or norm gains; tied weights once."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def make_adamw(model: nn.Module, cfg: OptimConfig, device_type: str, grad_scaler: bool = False) -> torch.optim.AdamW:
    """``cfg.fused="auto"``: the fused kernel on CUDA and on the CPU, unless a GradScaler
    scales the gradients (16-mixed): a fused step unscales them itself, so Lightning
    cannot unscale them first to clip them."""
    fused = cfg.fused
    if fused == "auto":
        # On the CPU too: 0.7 ms a step against 4 ms for foreach, same loss (BENCHMARKS.md).
        fused = device_type in ("cuda", "cpu") and not grad_scaler
    return torch.optim.AdamW(
        param_groups(model, cfg.weight_decay),
        lr=cfg.lr,
        betas=tuple(cfg.betas),
        eps=cfg.eps,
        fused=bool(fused),
    )
