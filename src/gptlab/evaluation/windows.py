"""Which tokens each evaluation window feeds the model, and which of its targets it scores.

The ``N - 1`` targets (all but the first token) are cut into chunks: the first ``T``
(context size), then ``stride`` at a time, each scored by the ``T`` tokens ending just
before its last target, so each target sees at least ``T - stride + 1`` tokens of
context (``stride == 1``: all ``T``, at ``T`` times the cost). Every target is scored
exactly once and every window is ``min(T, N - 1)`` long, so windows batch unpadded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from gptlab.errors import ConfigError


@dataclass(frozen=True)
class Window:
    """Input ``tokens[start:start+length]``, targets one later; only targets from
    ``score_from`` on are scored (the rest are context here)."""

    start: int
    length: int
    score_from: int

    @property
    def scored(self) -> int:
        return self.length - self.score_from


def plan_windows(n_tokens: int, context_size: int, stride: int | None = None) -> Iterator[Window]:
    """The windows that score each of the ``n_tokens - 1`` targets exactly once."""
    if context_size < 1:
        raise ConfigError(f"context size must be >= 1, got {context_size}")
    stride = context_size if stride is None else stride
    if not 1 <= stride <= context_size:
        raise ConfigError(f"evaluate.stride must be in [1, context_size={context_size}], got {stride}")
    if n_tokens < 2:
        return
    # Chunk of targets [a, b): the window's input ends at token b-2 (it predicts b-1).
    a, b = 1, min(context_size + 1, n_tokens)
    while a < b:
        end = b - 1  # exclusive end of the window's input
        start = max(0, end - context_size)
        yield Window(start=start, length=end - start, score_from=a - 1 - start)
        a, b = b, min(b + stride, n_tokens)


def count_windows(n_tokens: int, context_size: int, stride: int | None = None) -> int:
    """``len(list(plan_windows(...)))`` without building it (for the progress bar)."""
    stride = context_size if stride is None else stride
    if n_tokens < 2:
        return 0
    rest = max(0, n_tokens - 1 - context_size)  # targets after the first chunk
    return 1 + -(-rest // stride)
