"""Masked (causal) multi-head self-attention."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gptlab.model.config import GPTConfig
from gptlab.model.kv_cache import KVCache
from gptlab.model.positional import apply_rotary

RopeAngles = tuple[Tensor, Tensor]  # (cos, sin), each (T, hs/2)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.head_size = config.head_size
        # One matmul for q, k and v instead of three: fewer, larger kernels.
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        # Writes into the residual stream: GPT._init_weights gives it a smaller init.
        self.out_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def _project(self, x: Tensor, rope: RopeAngles | None) -> tuple[Tensor, Tensor, Tensor]:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # (B, T, C) each
        q = q.view(B, T, self.n_head, self.head_size).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, self.head_size).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, self.head_size).transpose(1, 2)  # (B, nh, T, hs)
        if rope is not None:
            # Only q and k: position should shape *where* a head looks, not what it reads.
            q = apply_rotary(q, *rope)
            k = apply_rotary(k, *rope)
        return q, k, v

    def _merge(self, y: Tensor) -> Tensor:
        B, _, T, _ = y.shape
        y = y.transpose(1, 2).reshape(B, T, self.n_head * self.head_size)  # (B, T, C)
        return self.resid_dropout(self.out_proj(y))

    def forward(
        self,
        x: Tensor,
        rope: RopeAngles | None = None,
        kv_cache: KVCache | None = None,
        layer: int = 0,
        return_attn: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """x (B, T, C) -> (y (B, T, C), probabilities (B, nh, T, S), S = cached + T, or None):
        only ``return_attn`` writes attention out by hand, else SDPA picks a fused kernel."""
        q, k, v = self._project(x, rope)  # (B, nh, T, hs)
        past = 0
        if kv_cache is not None:
            past = kv_cache.length
            k, v = kv_cache.update(layer, k, v)  # (B, nh, S, hs), S = past + T
            # An autocast forward may hand us half-precision q against a float32 cache.
            k, v = k.to(q.dtype), v.to(q.dtype)
        dropout_p = self.attn_dropout if self.training else 0.0
        T, S = q.size(2), k.size(2)
        probs: Tensor | None = None
        if return_attn:
            # softmax(q k^T / sqrt(hs) + causal mask) v, as in the paper.
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_size))  # (B, nh, T, S)
            att = att.masked_fill(~causal_mask(past, T, S, q.device), float("-inf"))
            probs = torch.softmax(att.float(), dim=-1).type_as(q)  # (B, nh, T, S)
            y = F.dropout(probs, dropout_p) @ v  # (B, nh, T, hs)
        elif past == 0:
            # is_causal lets SDPA pick a kernel that never materialises (T, T) scores.
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        else:
            # SDPA's is_causal aligns the mask top-left, wrong after `past` cached keys;
            # a single new token may see every cached key, so it needs no mask at all.
            mask = causal_mask(past, T, S, q.device) if T > 1 else None
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        return self._merge(y), probs  # (B, T, C), (B, nh, T, S) or None


def causal_mask(past: int, T: int, S: int, device: torch.device) -> Tensor:
    """(T, S) bool, True where query i (at position past+i) may see key j: j <= past+i."""
    qpos = torch.arange(past, past + T, device=device)[:, None]  # (T, 1)
    return torch.arange(S, device=device)[None, :] <= qpos  # (T, S)
