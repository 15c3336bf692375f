"""The bigram model, the floor every other model must beat: a (V, V) table of next-token
logits looked up from the last token alone, so its incremental decoding is exact.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from gptlab.model.baseline_config import BigramConfig


class BigramLM(nn.Module):
    def __init__(self, config: BigramConfig) -> None:
        super().__init__()
        self.config = config
        self.table = nn.Embedding(config.vocab_size, config.vocab_size)
        # Small logits at the start: the first loss is about ln(vocab_size), a uniform guess.
        nn.init.normal_(self.table.weight, mean=0.0, std=0.02)

    def forward(self, idx: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """idx (B, T) -> (logits (B, T, V), mean cross-entropy or None); targets -1 are ignored."""
        if idx.dim() != 2:
            raise ValueError(f"idx must be (batch, time), got shape {tuple(idx.shape)}")
        logits = self.table(idx)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    # ------------------------------------------------------------------ decoding

    @staticmethod
    def empty_state(batch_size: int, old: None = None) -> None:
        return None

    def next_logits(self, idx: Tensor, state: None = None) -> tuple[Tensor, None]:
        """Logits (B, V) for the token after ``idx`` (B, T): the last token's row. No state."""
        return self.table(idx[:, -1]), None

    @staticmethod
    def select_state(state: None, index: Tensor) -> None:
        return None

    # ------------------------------------------------------------------ accounting

    def num_params(self, non_embedding: bool = True) -> int:
        """The table's V*V entries (it is the whole model, so nothing is left out)."""
        return self.table.weight.numel()

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """0: a table lookup multiplies nothing (MFU reads 0 for this model)."""
        return 0.0
