"""Next-token logits one token at a time for the models whose cache is a state: the
recurrent ones (the hidden state) and the bigram (no state at all).

The same contract as :class:`gptlab.model.IncrementalLM`, the same window policies
(see its module docstring): after every ``prefill``/``step`` the logits equal
``model(lm.window)[0][:, -1]``. The state after the window is exactly what a fresh
pass over the window ends in, so while the history fits ``context_size`` each step is one
token's work. Past the context:

``"exact"``
    The window slides by one token. The state after it would have to forget the
    token that left, which a recurrence cannot do, so every step is a pass over the
    last ``context_size`` tokens from a zero state: what the model saw in training.

``"chunked"``
    The window is cut to its last ``keep_tokens`` tokens, the state rebuilt over them
    once, and steps are one token's work again until the window is full.

The model provides ``next_logits(idx, state) -> (logits (B, V), state)``
and ``select_state(state, index)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from gptlab.model.incremental import WINDOW_POLICIES
from gptlab.model.eval_mode import eval_mode


class RecurrentIncrementalLM:
    """Stateful next-token logits for a batch of rows that all advance together.

    Args:
        model: a :class:`~gptlab.model.recurrent.RecurrentLM` or :class:`~gptlab.model.bigram.BigramLM`.
        use_cache: keep the state between calls (same logits, cheaper); without it each
            call runs ``model(window)``, the reference the cached path is tested against.
        window: ``"exact"`` or ``"chunked"``.
        keep: for ``"chunked"``: the fraction of the context kept when the window is cut.
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
        self.keep_tokens = max(1, min(self.context_size, int(self.context_size * keep)))
        self._window: Tensor | None = None  # (B, <= context_size)
        self._state: Any = None
        # True while self._state is the state after exactly self._window.
        self._state_valid = False

    @property
    def window(self) -> Tensor:
        """The tokens the last logits were conditioned on, (B, <= context_size)."""
        if self._window is None:
            raise RuntimeError("call prefill() before step()/reorder()")
        return self._window

    @contextmanager
    def _inference(self) -> Iterator[None]:
        with torch.no_grad(), eval_mode(self.model):
            yield

    def _start(self, window: Tensor) -> Tensor:
        """Make ``window`` the state from scratch; return its next-token logits."""
        logits, state = self.model.next_logits(window, None)
        self._window = window
        self._state, self._state_valid = (state, True) if self.use_cache else (None, False)
        return logits

    def prefill(self, tokens: Tensor) -> Tensor:
        """Start over from ``tokens`` (B, T); return logits for the token after them."""
        if tokens.dim() != 2 or tokens.size(1) == 0:
            raise ValueError(f"prefill needs (batch, time) tokens with time >= 1, got {tuple(tokens.shape)}")
        device = next(self.model.parameters()).device
        with self._inference():
            return self._start(tokens[:, -self.context_size :].to(device))

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
            if not self._state_valid:
                return self._start(window)
            logits, self._state = self.model.next_logits(new, self._state)
        self._window = window
        return logits

    def reorder(self, index: Tensor) -> None:
        """Keep/reorder/duplicate rows: row i of the new state is row index[i] of the old."""
        index = index.to(self.window.device)
        self._window = self.window.index_select(0, index)
        if self._state_valid:
            self._state = self.model.select_state(self._state, index)
