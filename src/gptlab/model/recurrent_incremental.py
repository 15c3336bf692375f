"""Next-token logits one token at a time for the models whose cache is a state (recurrent:
the hidden state; bigram: none), with :class:`gptlab.model.IncrementalLM`'s contract and
window policies. Past the context, ``"exact"`` runs over the last ``context_size`` tokens
from a zero state every step: a recurrence cannot forget the token that left the window.
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
