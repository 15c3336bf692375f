"""Next-token logits one token at a time: the single interface generation code uses.

Contract: after every ``prefill``/``step`` the logits equal (up to round-off)
``model(lm.window)[0][:, -1]``; ``use_cache`` changes only the cost, never the window.
Past ``context_size`` the window policy decides what the model sees:

``"exact"`` (default): the last ``context_size`` tokens, as in training. A sliding window
    invalidates every cached key/value at layers >= 1 (rope included), so each step past
    the context is a full forward, the cost of ``use_cache=False``.
``"chunked"``: the window is cut to its last ``keep_tokens = max(1, int(context_size *
    keep))`` tokens and the cache re-prefilled from them (positions restart at 0), then
    steps are incremental until it is full again. Cheaper; past the context the model
    conditions on less than ``"exact"``, so the logits differ there.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gptlab.model.decoding_window import WINDOW_POLICIES, DecodingWindow
from gptlab.model.gpt import GPT
from gptlab.model.kv_cache import KVCache

__all__ = ["WINDOW_POLICIES", "IncrementalLM"]


class IncrementalLM(DecodingWindow):
    """Stateful next-token logits of a GPT, its keys and values cached; args as DecodingWindow's."""

    model: GPT

    def __init__(self, model: GPT, use_cache: bool = True, window: str = "exact", keep: float = 0.5) -> None:
        super().__init__(model, use_cache, window, keep)
        # Valid (DecodingWindow._valid) while it holds exactly the states of the window:
        # "exact" loses it for good once the window slides; "chunked" re-prefills instead.
        self._cache: KVCache | None = None

    def _last_logits(self, idx: Tensor, cache: KVCache | None) -> Tensor:
        h = self.model.hidden_states(idx, cache)[:, -1]  # (B, C)
        return torch.nn.functional.linear(h, self.model.lm_head_weight)  # (B, V)

    def _start(self, window: Tensor) -> Tensor:
        if not self.use_cache:
            self._window, self._valid = window, False
            return self._last_logits(window, None)
        B = window.size(0)
        if self._cache is None or self._cache.batch_size != B:
            self._cache = self.model.new_kv_cache(B)
        self._cache.reset()
        self._valid = False  # until the forward below has filled it
        logits = self._last_logits(window, self._cache)
        self._window, self._valid = window, True
        return logits

    def _advance(self, window: Tensor, new: Tensor) -> Tensor:
        if window.size(1) > self.context_size and self.window_policy == "chunked":
            return self._start(window[:, -self.keep_tokens :])
        if self._valid and window.size(1) <= self.context_size:
            assert self._cache is not None
            logits = self._last_logits(new, self._cache)
        else:
            window = window[:, -self.context_size :]  # "exact" slides by one
            self._valid = False
            logits = self._last_logits(window, None)
        self._window = window
        return logits

    def _select(self, index: Tensor) -> None:
        assert self._cache is not None
        self._cache.index_select(index)
