"""What every incremental decoder shares: the window, its policy past the context (see
:mod:`gptlab.model.incremental`), the checks, and running without dropout or gradients.
A subclass holds the cache and provides ``_start``, ``_advance`` and ``_select``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from gptlab.model.eval_mode import eval_mode

WINDOW_POLICIES = ("exact", "chunked")


class DecodingWindow:
    """Stateful next-token logits for a batch of rows that all advance together.

    Args:
        model: the model to run (its ``config`` gives ``context_size``, ``vocab_size``).
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
        # True while the subclass's cache holds exactly the state after self._window.
        self._valid = False

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
        with self._inference():
            return self._advance(torch.cat((window, new), dim=1), new)  # (B, t+1), (B, 1)

    def reorder(self, index: Tensor) -> None:
        """Keep/reorder/duplicate rows: row i of the new state is row index[i] of the old."""
        index = index.to(self.window.device)
        self._window = self.window.index_select(0, index)
        if self._valid:
            self._select(index)

    # What a subclass provides (called inside ``_inference``).

    def _start(self, window: Tensor) -> Tensor:
        """Make ``window`` (B, <= context_size) the window, cache from it alone; logits (B, V)."""
        raise NotImplementedError

    def _advance(self, window: Tensor, new: Tensor) -> Tensor:
        """``window`` (last one plus ``new``, maybe past the context): apply the policy, set
        ``self._window``, return the logits (B, V)."""
        raise NotImplementedError

    def _select(self, index: Tensor) -> None:
        """Reorder the rows of the (valid) cache."""
        raise NotImplementedError
