"""Small stand-ins for a model and tokenizers, so decoding can be checked exactly.

``FakeLM`` implements the incremental interface with next-token logits given by a plain
function of each row's token history, so a test can recompute by hand what any
decoding strategy must produce. Tests import it as ``tests.generation.generation_fakes``
(pytest runs with ``--import-mode=importlib`` and the repo root on ``pythonpath``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

NextLogits = Callable[[tuple[int, ...]], Sequence[float]]


class FakeLM:
    """Incremental LM whose logits for a row are ``next_logits(history)``.

    ``history`` is the row's tokens (prompt included) cropped to the last
    ``context_size``, as a real model would see them.
    """

    def __init__(self, next_logits: NextLogits, vocab_size: int, context_size: int = 64) -> None:
        self.next_logits = next_logits
        self.vocab_size = vocab_size
        self.context_size = context_size
        self.rows: list[list[int]] = []
        self.prefill_inputs: list[list[list[int]]] = []
        self.step_calls = 0

    def prefill(self, tokens: torch.Tensor) -> torch.Tensor:
        assert tokens.dim() == 2 and tokens.dtype == torch.long
        tokens = tokens[:, -self.context_size :]
        self.rows = [list(row) for row in tokens.tolist()]
        self.prefill_inputs.append([list(r) for r in self.rows])
        return self._logits()

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        assert tokens.shape == (len(self.rows),), (tokens.shape, len(self.rows))
        for row, token in zip(self.rows, tokens.tolist()):
            row.append(token)
        self.step_calls += 1
        return self._logits()

    def reorder(self, index: torch.Tensor) -> None:
        self.rows = [list(self.rows[i]) for i in index.tolist()]

    def _logits(self) -> torch.Tensor:
        out = [list(self.next_logits(tuple(r[-self.context_size :]))) for r in self.rows]
        assert all(len(r) == self.vocab_size for r in out)
        return torch.tensor(out, dtype=torch.float32)  # (B,V)


def fixed_logits(values: Sequence[float]) -> NextLogits:
    """The same distribution at every step, whatever the history."""
    return lambda history: values


def random_logits(vocab_size: int, seed: int, scale: float = 2.0) -> NextLogits:
    """A fixed but arbitrary distribution for every distinct history."""

    def next_logits(history: tuple[int, ...]) -> list[float]:
        h = 1469598103934665603 ^ seed  # FNV-1a over the history: stable across runs
        for t in history:
            h = ((h ^ (t + 1)) * 1099511628211) % 2**64
        g = torch.Generator().manual_seed(h % 2**63)
        return (torch.randn(vocab_size, generator=g) * scale).tolist()

    return next_logits


def scripted_logits(script: Sequence[int], prompt_len: int, vocab_size: int) -> NextLogits:
    """Emits ``script`` in order (near-certainly), then token 0 forever."""

    def next_logits(history: tuple[int, ...]) -> list[float]:
        i = len(history) - prompt_len
        token = script[i] if i < len(script) else 0
        return [30.0 if v == token else 0.0 for v in range(vocab_size)]

    return next_logits


def log_probs(probs: Sequence[float]) -> list[float]:
    return [math.log(p) if p > 0 else -math.inf for p in probs]


class CharTokenizer:
    """One id per character of ``chars``; optionally an end-of-text id after them."""

    def __init__(self, chars: str, eot: bool = True) -> None:
        self.chars = chars
        self.eot_id: int | None = len(chars) if eot else None
        self.vocab_size = len(chars) + (1 if eot else 0)

    def encode(self, text: str) -> list[int]:
        return [self.chars.index(c) for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join("<eot>" if i == self.eot_id else self.chars[i] for i in ids)


class ByteTokenizer:
    """ids 0..255 are UTF-8 bytes (so a token can end mid-character); 256 is end-of-text."""

    eot_id: int | None = 256
    vocab_size = 257

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")


class PieceTokenizer:
    """Each id is an arbitrary string piece, like a multi-character BPE token."""

    def __init__(self, pieces: Sequence[str], eot: bool = False) -> None:
        self.pieces = list(pieces)
        self.eot_id: int | None = len(pieces) if eot else None
        self.vocab_size = len(pieces) + (1 if eot else 0)

    def encode(self, text: str) -> list[int]:
        # Greedy longest match is enough for the tests' prompts.
        ids, i = [], 0
        while i < len(text):
            best = max((p for p in self.pieces if text.startswith(p, i)), key=len)
            ids.append(self.pieces.index(best))
            i += len(best)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        return "".join("" if i == self.eot_id else self.pieces[i] for i in ids)
