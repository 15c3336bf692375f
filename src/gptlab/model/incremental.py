"""Next-token logits one token at a time, the single interface generation code uses: after every
``prefill``/``step`` they equal ``model(lm.window)[0][:, -1]``, and ``use_cache`` changes only the cost.

Past ``context_size``, ``"exact"`` sees the last ``context_size`` tokens (a full pass per step: a sliding window
invalidates any cache); ``"chunked"`` cuts to the last ``keep_tokens`` and refills the cache, cheaper but
conditioned on less (BENCHMARKS.md, "Generation"). The model holds no state; it provides ``empty_state``,
``next_logits`` and ``select_state`` over its cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from gptlab.model.eval_mode import eval_mode

__all__ = ["WINDOW_POLICIES", "IncrementalLM"]

WINDOW_POLICIES = ("exact", "chunked")


class IncrementalLM:
    """Stateful next-token logits for a batch of rows that all advance together.

    Args:
        model: a model of the family (its ``config`` gives ``context_size``, ``vocab_size``).
        use_cache: keep the cache between calls (same logits, cheaper).
        window: the window policy, ``"exact"`` or ``"chunked"``.
        keep: for ``"chunked"``, the fraction of the context kept at a cut, in (0, 1].
    """

    def __init__(self, model: Any, use_cache: bool = True, window: str = "exact", keep: float = 0.5) -> None:
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
        # The model's cache; kept after it goes stale, so that a GPT refills its buffers.
        self._state: Any = None
        self._valid = False  # True while self._state is exactly the state after self._window

    @property
    def window(self) -> Tensor:
        """The tokens the last logits were conditioned on, (B, <= context_size)."""
        if self._window is None:
            raise RuntimeError("call prefill() before step()/reorder()")
        return self._window

    @contextmanager
    def _inference(self) -> Iterator[None]:
        # Dropout would break the contract; eval_mode then restores the caller's mode.
        with torch.no_grad(), eval_mode(self.model):
            yield

    def prefill(self, tokens: Tensor) -> Tensor:
        """Start over from ``tokens`` (B, T); return logits for the token after them."""
        if tokens.dim() != 2 or tokens.size(1) == 0:
            raise ValueError(f"prefill needs (batch, time) tokens with time >= 1, got {tuple(tokens.shape)}")
        device = next(self.model.parameters()).device
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
            if window.size(1) > self.context_size:
                cut = self.keep_tokens if self.window_policy == "chunked" else self.context_size
                return self._start(window[:, -cut:])
            if not self._valid:
                return self._start(window)
            logits, self._state = self.model.next_logits(new, self._state)
            self._window = window
            return logits

    def reorder(self, index: Tensor) -> None:
        """Keep/reorder/duplicate rows: row i of the new state is row index[i] of the old."""
        index = index.to(self.window.device)
        self._window = self.window.index_select(0, index)
        if self._valid:
            self._state = self.model.select_state(self._state, index)

    def _start(self, window: Tensor) -> Tensor:
        """Make ``window`` (B, <= context_size) the window, the cache the state after it alone."""
        self._valid = False  # until the pass below has filled the cache
        state = self.model.empty_state(window.size(0), self._state) if self.use_cache else None
        logits, state = self.model.next_logits(window, state)  # (B, V)
        self._window = window
        if self.use_cache:
            self._state, self._valid = state, True
        return logits
