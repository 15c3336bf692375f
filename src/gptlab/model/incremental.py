"""Next-token logits one token at a time: the single interface generation code uses.

Contract: after every ``prefill``/``step`` the returned logits equal (up to float
round-off) ``model(lm.window)[0][:, -1]``, whatever the positional encoding and whether
or not the KV cache is used. Which tokens ``lm.window`` holds is the *window policy*,
chosen with ``IncrementalLM(model, window=...)``; ``use_cache`` never changes it, only
the cost, so cached and uncached runs of one policy give the same logits.

Window policies
---------------
Both start the same way: ``prefill(tokens)`` keeps the last ``min(T, context_size)``
tokens, and each ``step`` appends its token while the window still fits the context.
They differ only in what a step does when the window would grow past ``context_size``:

``"exact"`` (default)
    The window slides by one token: it is always the last ``context_size`` tokens of
    the history, exactly what the model saw in training once its context was full.

    Cost: while the history fits, the KV cache makes each step one token's work,
    O(n_layer * (n_embd^2 + t * n_embd)). Once it slides, every token in the window
    loses a token of left context. Each cached key/value at layers >= 1 was computed
    *with* that context, so none of them is what ``model(window)`` computes. That holds
    for rope too: relative positions only keep the layer-0 keys exact (and so the whole
    cache only when n_layer == 1). Past the context every step is therefore a full
    forward over ``context_size`` tokens, the same cost as ``use_cache=False``.

``"chunked"``
    When the window would exceed ``context_size`` it is cut to the last
    ``keep_tokens = max(1, int(context_size * keep))`` tokens (``keep=0.5``: the last
    ``context_size // 2``, the new token included), the cache is re-prefilled from
    them once, and steps are incremental again until the window is full. Positions
    restart at 0 with each cut (absolute encodings) and all keys/values are recomputed
    from the kept tokens alone, so the cache is exact for *this* window.

    What the model sees: past the context, the window is the last ``L`` tokens of the
    history, where ``L`` cycles ``keep_tokens, keep_tokens + 1, ..., context_size`` and
    then back to ``keep_tokens`` -- between half and all of the context with
    ``keep=0.5``, never the last ``context_size`` tokens except at the end of each
    cycle. Logits therefore differ from ``"exact"`` once the history is longer than the
    context (the model conditions on less), and equal them before that.

    Cost: one forward over ``keep_tokens`` tokens every ``context_size - keep_tokens +
    1`` steps (one cycle), and one token's work on all the other steps; with
    ``keep=0.5`` the re-prefills add about one token's work per step on average, where
    ``"exact"`` spends ``context_size`` tokens' work on every step past the context.
    ``keep=1.0`` cuts to the last ``context_size`` tokens on every step: the ``"exact"``
    window, at the uncached cost.

Without the cache (``use_cache=False``) each call runs ``model(window)`` over the
policy's window: the reference the cached path is tested against.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gptlab.model.decoding_window import WINDOW_POLICIES, DecodingWindow
from gptlab.model.gpt import GPT
from gptlab.model.kv_cache import KVCache

__all__ = ["WINDOW_POLICIES", "IncrementalLM"]


class IncrementalLM(DecodingWindow):
    """Stateful next-token logits of a GPT, its keys and values cached (:class:`KVCache`).

    Args: see :class:`~gptlab.model.decoding_window.DecodingWindow`.
    """

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
