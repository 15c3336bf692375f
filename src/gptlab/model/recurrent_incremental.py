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
and ``select_state(state, index)``; the window and its checks are
:class:`~gptlab.model.decoding_window.DecodingWindow`'s.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from gptlab.model.decoding_window import DecodingWindow


class RecurrentIncrementalLM(DecodingWindow):
    """Stateful next-token logits of a model whose cache is a state.

    Args: see :class:`~gptlab.model.decoding_window.DecodingWindow`; ``model`` is a
    :class:`~gptlab.model.recurrent.RecurrentLM` or :class:`~gptlab.model.bigram.BigramLM`.
    """

    def __init__(self, model: Any, use_cache: bool = True, window: str = "exact", keep: float = 0.5) -> None:
        super().__init__(model, use_cache, window, keep)
        self._state: Any = None  # the state after exactly self._window while self._valid

    def _start(self, window: Tensor) -> Tensor:
        logits, state = self.model.next_logits(window, None)
        self._window = window
        self._state, self._valid = (state, True) if self.use_cache else (None, False)
        return logits

    def _advance(self, window: Tensor, new: Tensor) -> Tensor:
        if window.size(1) > self.context_size:
            cut = self.keep_tokens if self.window_policy == "chunked" else self.context_size
            return self._start(window[:, -cut:])
        if not self._valid:
            return self._start(window)
        logits, self._state = self.model.next_logits(new, self._state)
        self._window = window
        return logits

    def _select(self, index: Tensor) -> None:
        self._state = self.model.select_state(self._state, index)
