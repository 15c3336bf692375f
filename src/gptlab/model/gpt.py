"""The decoder-only transformer language model.

tokens -> token embedding (+ absolute position) -> dropout -> n_layer blocks
-> final norm -> linear head -> next-token logits.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Literal, overload

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gptlab.model.attention import RopeAngles
from gptlab.model.block import Block
from gptlab.model.config import GPTConfig
from gptlab.model.eval_mode import eval_mode
from gptlab.model.kv_cache import KVCache
from gptlab.model.norm import build_norm
from gptlab.model.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
)

_COMPILED_PREFIX = "_orig_mod"  # module name torch.compile's wrapper puts in front


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb: LearnedPositionalEmbedding | SinusoidalPositionalEncoding | None = None
        self.rope: RotaryEmbedding | None = None
        if config.pos_encoding == "learned":
            self.pos_emb = LearnedPositionalEmbedding(config.context_size, config.n_embd)
        elif config.pos_encoding == "sinusoidal":
            self.pos_emb = SinusoidalPositionalEncoding(config.context_size, config.n_embd)
        else:
            self.rope = RotaryEmbedding(config.head_size, config.context_size, config.rope_base)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm_f = build_norm(config)
        # Tied: the head *is* the embedding matrix (logits = h @ E^T), no module of its own,
        # so state_dict has no aliased entries (strict loading and safetensors dislike them).
        self.lm_head: nn.Linear | None = None
        if not config.tie_weights:
            self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self._init_weights()

    # ------------------------------------------------------------------ init

    def _init_weights(self) -> None:
        # GPT-2 init: small normal weights keep the initial logits near zero, so the
        # first loss is ~ln(vocab_size) (a uniform guess).
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.Embedding, LearnedPositionalEmbedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
        # Every block adds two branches to the residual stream; scaling their output
        # projections by 1/sqrt(2*n_layer) keeps its variance from growing with depth.
        resid_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for block in self.blocks:
            assert isinstance(block, Block)
            nn.init.normal_(block.attn.out_proj.weight, mean=0.0, std=resid_std)
            nn.init.normal_(block.mlp.down_proj.weight, mean=0.0, std=resid_std)

    # ------------------------------------------------------------------ forward

    @property
    def lm_head_weight(self) -> Tensor:
        """(V, C) output projection: the token embedding itself when tied."""
        return self.tok_emb.weight if self.lm_head is None else self.lm_head.weight

    def forward(
        self,
        idx: Tensor,
        targets: Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """idx (B, T) token ids -> (logits (B, T, V), mean cross-entropy or None); targets of
        -1 are padding; with ``kv_cache``, idx follows the cached tokens."""
        h = self.hidden_states(idx, kv_cache)  # (B, T, C)
        logits = F.linear(h, self.lm_head_weight)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1
            )
        return logits, loss

    @overload
    def hidden_states(
        self, idx: Tensor, kv_cache: KVCache | None = None, return_attn: Literal[False] = False
    ) -> Tensor: ...

    @overload
    def hidden_states(
        self, idx: Tensor, kv_cache: KVCache | None = None, *, return_attn: Literal[True]
    ) -> tuple[Tensor, Tensor]: ...

    def hidden_states(
        self, idx: Tensor, kv_cache: KVCache | None = None, return_attn: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Final-normed hidden states (B, T, C): all but the head, so decoding projects only
        the last row. With ``return_attn``, also (n_layer, B, nh, T, S), S = cached + T."""
        if idx.dim() != 2:
            raise ValueError(f"idx must be (batch, time), got shape {tuple(idx.shape)}")
        B, T = idx.shape
        start = self._start_position(B, T, kv_cache)
        x = self.tok_emb(idx)  # (B, T, C)
        if self.pos_emb is not None:
            x = x + self.pos_emb(start, T)  # (T, C) broadcast over B
        rope: RopeAngles | None = self.rope(start, T) if self.rope is not None else None
        x = self.drop(x)
        maps: list[Tensor] = []
        for layer, block in enumerate(self.blocks):
            x, probs = block(x, rope, kv_cache, layer, return_attn)  # (B, T, C), (B, nh, T, S) or None
            if probs is not None:
                maps.append(probs)
        if kv_cache is not None:
            kv_cache.advance(T)
        h = self.norm_f(x)  # (B, T, C)
        if return_attn:
            return h, torch.stack(maps)  # (B, T, C), (n_layer, B, nh, T, S)
        return h

    def _start_position(self, B: int, T: int, kv_cache: KVCache | None) -> int:
        """Position of idx's first token: the number of tokens already cached, or 0."""
        ctx = self.config.context_size
        if kv_cache is None:
            if T > ctx:
                raise ValueError(
                    f"sequence length {T} exceeds context_size {ctx}; "
                    f"crop the input to its last {ctx} tokens"
                )
            return 0
        if kv_cache.batch_size != B:
            raise ValueError(f"batch size {B} does not match the KV cache's {kv_cache.batch_size}")
        if kv_cache.n_layer != self.config.n_layer:
            raise ValueError("KV cache was built for a model with a different n_layer")
        if kv_cache.length + T > kv_cache.max_len:
            raise ValueError(
                f"KV cache overflow: {kv_cache.length} cached + {T} new tokens "
                f"> max_len {kv_cache.max_len}"
            )
        if kv_cache.length + T > ctx:
            raise ValueError(f"position {kv_cache.length + T - 1} is beyond context_size {ctx}")
        return kv_cache.length

    # ------------------------------------------------------------------ decoding helpers

    def new_kv_cache(self, batch_size: int, max_len: int | None = None) -> KVCache:
        """An empty cache on this model's device and dtype; max_len defaults to the context."""
        cfg = self.config
        max_len = cfg.context_size if max_len is None else max_len
        if max_len > cfg.context_size:
            raise ValueError(
                f"max_len {max_len} > context_size {cfg.context_size}: positions past the "
                "context are never used"
            )
        w = self.tok_emb.weight
        return KVCache(
            cfg.n_layer, batch_size, cfg.n_head, cfg.head_size, max_len,
            device=w.device, dtype=w.dtype,
        )  # fmt: skip

    def empty_state(self, batch_size: int, old: KVCache | None = None) -> KVCache:
        """An empty KV cache for decoding: ``old`` emptied when it fits (no reallocation)."""
        if old is None or old.batch_size != batch_size:
            return self.new_kv_cache(batch_size)
        old.reset()  # stale entries past `length` are never read
        return old

    def next_logits(self, idx: Tensor, cache: KVCache | None = None) -> tuple[Tensor, KVCache | None]:
        """Logits (B, V) for the token after ``idx`` (B, T), which follows ``cache``'s tokens
        (None: no cache); only the last position goes through the head."""
        h = self.hidden_states(idx, cache)[:, -1]  # (B, C)
        return F.linear(h, self.lm_head_weight), cache

    @staticmethod
    def select_state(cache: KVCache, index: Tensor) -> KVCache:
        cache.index_select(index)
        return cache

    @torch.no_grad()
    def attention_maps(self, idx: Tensor) -> Tensor:
        """Softmax attention probabilities, (n_layer, B, n_head, T, T), without dropout."""
        with eval_mode(self):
            return self.hidden_states(idx, return_attn=True)[1]

    # ------------------------------------------------------------------ accounting

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count, tied weights once; non_embedding drops the position embedding
        (the scaling-law convention) but not the token embedding, which is also the head."""
        n = sum(p.numel() for p in self.parameters())  # parameters() yields each tensor once
        if non_embedding and isinstance(self.pos_emb, LearnedPositionalEmbedding):
            n -= self.pos_emb.weight.numel()
        return n

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Estimated training FLOPs per token: 6*N + 12*n_layer*n_embd*T (PaLM's MFU count), N
        the matmul weights only, causal masking ignored, T by default context_size."""
        T = self.config.context_size if seq_len is None else seq_len
        n = self.num_params(non_embedding=True)
        if self.lm_head is not None:
            n -= self.tok_emb.weight.numel()
        cfg = self.config
        return float(6 * n + 12 * cfg.n_layer * cfg.n_embd * T)

    # ------------------------------------------------------------------ checkpoints

    @staticmethod
    def clean_state_dict(sd: Mapping[str, Tensor]) -> OrderedDict[str, Tensor]:
        """Drop the ``_orig_mod.`` component torch.compile adds to every key."""
        out: OrderedDict[str, Tensor] = OrderedDict()
        for key, value in sd.items():
            parts = [p for p in key.split(".") if p != _COMPILED_PREFIX]
            out[".".join(parts)] = value
        return out
