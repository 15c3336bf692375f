"""A growing list of token ids as text that is safe to show, and the stop strings in it.

The whole completion is decoded each time, and two tails are held back until more text
follows: a run of U+FFFD (a byte-level BPE token can end inside a UTF-8 character) and the
longest one that may begin a stop string (the text is cut before a stop string). So the
pieces of ``push`` and ``flush`` concatenate exactly to ``text``, for any tokenizer whose
decode of a longer id list extends that of a shorter one (char and byte-level BPE do).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

REPLACEMENT_CHAR = "\ufffd"


class CompletionText:
    """The decoded text of one completion as its tokens arrive."""

    def __init__(self, decode: Callable[[Sequence[int]], str], stop_strings: Sequence[str] = ()) -> None:
        self._decode = decode
        self._stops = tuple(stop_strings)
        self._ids: list[int] = []
        self._shown = 0  # characters of self.text already returned as pieces
        self.text = ""
        self.stopped = False  # a stop string was found; self.text ends before it

    def push(self, token_id: int) -> str:
        """Add a token; return the newly stable text (possibly empty)."""
        if self.stopped:
            raise RuntimeError("push() after a stop string was found")
        self._ids.append(token_id)
        text = self._decode(self._ids)
        cut = self._first_stop(text)
        if cut is not None:
            self.text = text[:cut]
            self.stopped = True
            return self.flush()
        self.text = text
        stable = len(text.rstrip(REPLACEMENT_CHAR))
        stable -= self._partial_stop_length(text[:stable])
        if stable <= self._shown:
            return ""
        piece = text[self._shown : stable]
        self._shown = stable
        return piece

    def flush(self) -> str:
        """Return everything not yet shown (call once the completion has ended)."""
        piece = self.text[self._shown :]
        self._shown = len(self.text)
        return piece

    def _first_stop(self, text: str) -> int | None:
        # A stop string cannot start inside text already shown: that text never ends
        # with a prefix of a stop string (it is held back), so searching from
        # self._shown finds the first occurrence at linear cost per token.
        hits = [i for s in self._stops if (i := text.find(s, self._shown)) >= 0]
        return min(hits) if hits else None

    def _partial_stop_length(self, text: str) -> int:
        """Length of the longest tail of ``text`` that is a proper prefix of a stop string."""
        longest = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:n]):
                    longest = n
                    break
        return longest
