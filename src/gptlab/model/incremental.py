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

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from gptlab.model.eval_mode import eval_mode
from gptlab.model.gpt import GPT
from gptlab.model.kv_cache import KVCache

WINDOW_POLICIES = ("exact", "chunked")


class IncrementalLM:
    """Stateful next-token logits for a batch of rows that all advance together.

    Args:
        model: the GPT to run.
        use_cache: keep keys/values between calls (same logits, cheaper).
        window: the window policy, ``"exact"`` or ``"chunked"`` (see the module docstring).
        keep: for ``"chunked"``: the fraction of the context kept when the window is
            cut, in (0, 1]; ignored by ``"exact"``.
    """

    def __init__(self, model: GPT, use_cache: bool = True, window: str = "exact", keep: float = 0.5) -> None:
        if window not in WINDOW_POLICIES:
            raise ValueError(f"window must be one of {', '.join(WINDOW_POLICIES)}, got {window!r}")
        if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0.0 < keep <= 1.0:
            raise ValueError(f"keep must be a fraction of the context in (0, 1], got {keep!r}")
        self.model = model
        self.use_cache = use_cache
        self.window_policy = window
        self.context_size: int = model.config.context_size
        self.vocab_size: int = model.config.vocab_size
        # Tokens left in the window when "chunked" cuts it.
        self.keep_tokens = max(1, min(self.context_size, int(self.context_size * keep)))
        self._window: Tensor | None = None  # (B, <= context_size) the tokens conditioned on
        self._cache: KVCache | None = None
        # True while the cache holds exactly the states of self._window. "exact" loses it
        # for good once the window slides; "chunked" re-prefills instead.
        self._cache_valid = False

    @property
    def window(self) -> Tensor:
        """The tokens the last logits were conditioned on, (B, <= context_size)."""
        if self._window is None:
            raise RuntimeError("call prefill() before step()/reorder()")
        return self._window

    @contextmanager
    def _inference(self) -> Iterator[None]:
        # Dropout would break the contract; restore the caller's mode afterwards so a
        # mid-training sampling callback doesn't silently switch dropout off.
        with torch.no_grad(), eval_mode(self.model):
            yield

    def _last_logits(self, idx: Tensor, cache: KVCache | None) -> Tensor:
        h = self.model.hidden_states(idx, cache)[:, -1]  # (B, C)
        return torch.nn.functional.linear(h, self.model.lm_head_weight)  # (B, V)

    def _start(self, window: Tensor) -> Tensor:
        """Make ``window`` (B, <= context_size) the state; return its next-token logits.

        Inside ``_inference``. With the cache, (re-)fills it from ``window`` alone.
        """
        if not self.use_cache:
            self._window, self._cache_valid = window, False
            return self._last_logits(window, None)
        B = window.size(0)
        if self._cache is None or self._cache.batch_size != B:
            self._cache = self.model.new_kv_cache(B)
        self._cache.reset()
        self._cache_valid = False  # until the forward below has filled it
        logits = self._last_logits(window, self._cache)
        self._window, self._cache_valid = window, True
        return logits

    def prefill(self, tokens: Tensor) -> Tensor:
        """Start over from ``tokens`` (B, T); return logits for the token after them."""
        if tokens.dim() != 2 or tokens.size(1) == 0:
            raise ValueError(f"prefill needs (batch, time) tokens with time >= 1, got {tuple(tokens.shape)}")
        device = self.model.tok_emb.weight.device
        window = tokens[:, -self.context_size :].to(device)  # crop from the left
        with self._inference():
            return self._start(window)

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
            if window.size(1) > self.context_size and self.window_policy == "chunked":
                return self._start(window[:, -self.keep_tokens :])
            if self._cache_valid and window.size(1) <= self.context_size:
                assert self._cache is not None
                logits = self._last_logits(new, self._cache)
            else:
                window = window[:, -self.context_size :]  # "exact" slides by one
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
