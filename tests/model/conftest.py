from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from gptlab.model import GPT, GPTConfig
from tests.helpers import model_config


# conf/model/tiny.yaml, smaller still (the rest of the architecture is tiny's).
TINY: dict[str, Any] = dict(vocab_size=23, context_size=12, n_layer=2, n_head=2, n_embd=16)


def tiny_config(**overrides: Any) -> GPTConfig:
    return model_config("tiny", **{**TINY, **overrides})


@pytest.fixture
def make_model() -> Callable[..., GPT]:
    """Tiny seeded model; ``scale`` re-draws all weights larger.

    GPT-2 init makes logits nearly constant, so position or caching bugs would hide
    below any tolerance; larger random weights make every token and position matter.
    """

    def make(scale: float | None = None, seed: int = 0, **overrides: Any) -> GPT:
        torch.manual_seed(seed)
        model = GPT(tiny_config(**overrides))
        if scale is not None:
            with torch.no_grad():
                for p in model.parameters():
                    p.normal_(0.0, scale)
        return model.eval()

    return make
