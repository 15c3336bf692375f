"""Pieces shared by the GPT-2 and GPT-NeoX state-dict writers."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor


def bias_or_zeros(state: Mapping[str, Tensor], name: str, size: int) -> Tensor:
    """``state[name]``, or zeros for a ``bias=false`` model (Hugging Face's layers always have biases)."""
    return state[name] if name in state else torch.zeros(size, dtype=state["tok_emb.weight"].dtype)
