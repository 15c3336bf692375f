"""AdamW with weight decay on matrices only (embeddings and linear weights)."""

from __future__ import annotations

import torch
from torch import nn

from gptlab.training.config import OptimConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay every parameter with >= 2 dims; never biases or norm gains.

    Tied weights appear once (``named_parameters`` de-duplicates shared tensors).
    """
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
        # On the CPU too: one kernel per tensor instead of a dozen foreach passes and a
        # host read of every step counter. Measured on the CPU preset's model (4 x 128, one
        # thread): 0.7 ms an optimizer step against 4 ms for the foreach AdamW, and the
        # same whole-split loss (BENCHMARKS.md, Training).
        fused = device_type in ("cuda", "cpu") and not grad_scaler
    return torch.optim.AdamW(
        param_groups(model, cfg.weight_decay),
        lr=cfg.lr,
        betas=tuple(cfg.betas),
        eps=cfg.eps,
        fused=bool(fused),
    )
