"""Which tokens each evaluation window feeds the model, and which of its targets it scores.

A split of ``N`` tokens has ``N - 1`` targets: token ``t`` (for ``1 <= t < N``) is
predicted from the tokens before it. The first token has no context, so it is never
scored. The targets are cut into consecutive chunks, and each chunk is scored by one
forward pass over a window that ends right before its last target:

* chunk 0 holds targets ``1 .. T`` (``T`` = the context size), read from the window
  ``tokens[0:T]``: target ``t`` sees all ``t`` tokens before it;
* every later chunk holds the next ``stride`` targets, read from the ``T`` tokens that
  end just before the chunk's last target, so every target in it sees at least
  ``T - stride + 1`` tokens of context.

With ``stride == T`` (the default) the windows do not overlap, except that the final,
partial chunk borrows earlier tokens as context to still fill a whole window. With
``stride == 1`` every target past the first window gets the full ``T`` tokens of
context, at ``T`` times the cost. Either way the chunks partition the targets, so
every token after the first is scored exactly once, and every window has the same
length ``min(T, N - 1)``, so windows batch without padding.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from gptlab.errors import ConfigError


@dataclass(frozen=True)
class Window:
    """Input ``tokens[start:start+length]``, targets ``tokens[start+1:start+length+1]``.

    Only targets at relative positions ``>= score_from`` are scored (the others were
    scored by an earlier window and are only context here).
    """

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
