"""What decoding needs from a language model and a tokenizer: protocols, not imports, so
anything with these members works (the tests' fakes too)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch


class IncrementalLMLike(Protocol):
    """A language model fed one token at a time, holding its own per-row state."""

    @property
    def context_size(self) -> int: ...

    @property
    def vocab_size(self) -> int: ...

    def prefill(self, tokens: torch.Tensor) -> torch.Tensor:
        """Reset state to ``tokens`` (B,T), cropped from the left to context_size; return next-token logits (B,V)."""
        ...

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append one token per row, ``tokens`` (B,); return next-token logits (B,V)."""
        ...

    def reorder(self, index: torch.Tensor) -> None:
        """Keep, reorder or duplicate state rows: new row i is old row ``index[i]``, ``index`` (B2,)."""
        ...


class TokenizerLike(Protocol):
    @property
    def vocab_size(self) -> int: ...

    @property
    def eot_id(self) -> int | None: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...
