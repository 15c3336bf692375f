"""Next-token logits one token at a time: the single interface generation code uses.

Contract: after every ``prefill``/``step`` the returned logits equal (up to float
round-off) ``model(window)[0][:, -1]`` where ``window`` is the last ``context_size``
tokens seen, whatever the positional encoding.

Cost policy
-----------
* While the history fits in the context, the KV cache makes each step one token's work:
  O(n_layer * (n_embd^2 + t * n_embd)).
* Once the history is longer than the context, the window slides by one token per step
  and every token in it loses a token of left context. Each cached key/value at layers
  >= 1 was computed *with* that context, so none of them is what the reference
  ``model(window)`` computes. That holds for rope too: relative positions only keep the
  layer-0 keys exact (and so the whole cache only when n_layer == 1). Matching the
  contract therefore needs a full forward over the window per step, the same cost as
  ``use_cache=False``. Cheaper schemes (re-prefilling half a window, or
  ``KVCache.drop_oldest`` for rope) reuse stale states and are approximations.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from gptlab.model.gpt import GPT
from gptlab.model.kv_cache import KVCache


class IncrementalLM:
    def __init__(self, model: GPT, use_cache: bool = True) -> None:
        self.model = model
        self.use_cache = use_cache
        self.context_size: int = model.config.context_size
        self.vocab_size: int = model.config.vocab_size
        self._window: Tensor | None = None  # (B, <= context_size) last tokens seen
        self._cache: KVCache | None = None
        # True while the cache holds exactly the states of self._window; false for good
        # once the window has slid (see the module docstring).
        self._cache_valid = False

    @property
    def window(self) -> Tensor:
        """The tokens the next logits are conditioned on, (B, <= context_size)."""
        if self._window is None:
            raise RuntimeError("call prefill() before step()/reorder()")
        return self._window

    @contextmanager
    def _inference(self) -> Iterator[None]:
        # Dropout would break the contract; restore the caller's mode afterwards so a
        # mid-training sampling callback doesn't silently switch dropout off.
        with torch.no_grad(), self.model._eval_mode():
            yield

    def _last_logits(self, idx: Tensor, cache: KVCache | None) -> Tensor:
        h = self.model.hidden_states(idx, cache)[:, -1]  # (B, C)
        return torch.nn.functional.linear(h, self.model.lm_head_weight)  # (B, V)

    def prefill(self, tokens: Tensor) -> Tensor:
        """Start over from ``tokens`` (B, T); return logits for the token after them."""
        if tokens.dim() != 2 or tokens.size(1) == 0:
            raise ValueError(f"prefill needs (batch, time) tokens with time >= 1, got {tuple(tokens.shape)}")
        device = self.model.tok_emb.weight.device
        window = tokens[:, -self.context_size :].to(device)  # crop from the left
        B = window.size(0)
        with self._inference():
            if not self.use_cache:
                self._window, self._cache_valid = window, False
                return self._last_logits(window, None)
            if self._cache is None or self._cache.batch_size != B:
                self._cache = self.model.new_kv_cache(B)
            self._cache.reset()
            logits = self._last_logits(window, self._cache)
        self._window, self._cache_valid = window, True
        return logits

    def step(self, tokens: Tensor) -> Tensor:
        """Append one token per row, (B,); return the logits for the token after it."""
        window = self.window
        if tokens.dim() != 1 or tokens.size(0) != window.size(0):
            raise ValueError(
                f"step needs one token per row, shape ({window.size(0)},), got {tuple(tokens.shape)}"
            )
        new = tokens.to(window.device)[:, None]  # (B, 1)
        window = torch.cat((window, new), dim=1)  # (B, t+1)
        with self._inference():
            if self._cache_valid and window.size(1) <= self.context_size:
                assert self._cache is not None
                logits = self._last_logits(new, self._cache)
            else:
                window = window[:, -self.context_size :]
                self._cache_valid = False
                logits = self._last_logits(window, None)
        self._window = window
        return logits

    def reorder(self, index: Tensor) -> None:
        """Keep/reorder/duplicate rows: row i of the new state is row index[i] of the old."""
        index = index.to(self.window.device)
        self._window = self.window.index_select(0, index)
        if self._cache_valid:
            assert self._cache is not None
            self._cache.index_select(index)
