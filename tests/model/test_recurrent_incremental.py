"""Decoding with the hidden state as the cache: the KV cache's exactness contract holds."""

from __future__ import annotations

import pytest
import torch

from gptlab.model import IncrementalLM, incremental_lm
from tests.model.kinds import kind_model

STATEFUL = ("bigram", "rnn", "lstm", "gru")
CONTEXT = 12  # tests/model/kinds.py's tiny configs


def full_forward_last(model, window: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(window)[0][:, -1]


@pytest.mark.parametrize("window", ["exact", "chunked"])
@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("kind", STATEFUL)
def test_incremental_logits_equal_a_full_forward_over_the_window(kind: str, use_cache: bool, window: str):
    """After every prefill/step: logits == model(lm.window)[:, -1], before and past the context."""
    model = kind_model(kind, scale=0.5)
    lm = incremental_lm(model, use_cache=use_cache, window=window)
    assert isinstance(lm, IncrementalLM)
    torch.manual_seed(1)
    logits = lm.prefill(torch.randint(0, 23, (3, 5)))
    torch.testing.assert_close(logits, full_forward_last(model, lm.window), rtol=1e-5, atol=1e-5)
    lengths = []
    for _ in range(2 * CONTEXT + 3):  # the window fills, then slides (exact) or is cut (chunked)
        logits = lm.step(torch.randint(0, 23, (3,)))
        lengths.append(lm.window.size(1))
        torch.testing.assert_close(logits, full_forward_last(model, lm.window), rtol=1e-5, atol=1e-5)
    assert max(lengths) == CONTEXT
    if window == "exact":
        assert lengths[-5:] == [CONTEXT] * 5
    else:
        assert min(lengths[CONTEXT:]) == CONTEXT // 2  # keep=0.5


@pytest.mark.parametrize("window", ["exact", "chunked"])
def test_the_window_policies_see_the_same_windows_as_the_gpts(window: str):
    gpt = incremental_lm(kind_model("gpt"), window=window)
    lstm = incremental_lm(kind_model("lstm"), window=window)
    assert isinstance(gpt, IncrementalLM)
    tokens = torch.randint(0, 23, (2, 4))
    gpt.prefill(tokens)
    lstm.prefill(tokens)
    for _ in range(30):
        new = torch.randint(0, 23, (2,))
        gpt.step(new)
        lstm.step(new)
        assert torch.equal(gpt.window, lstm.window)


@pytest.mark.parametrize("kind", STATEFUL)
def test_reorder_expands_and_permutes_the_state(kind: str):
    model = kind_model(kind, scale=0.5)
    lm = incremental_lm(model)
    lm.prefill(torch.randint(0, 23, (2, 6)))
    lm.reorder(torch.tensor([1, 0, 1]))  # 3 rows now: old 1, old 0, old 1
    logits = lm.step(torch.tensor([3, 4, 5]))
    torch.testing.assert_close(logits, full_forward_last(model, lm.window), rtol=1e-5, atol=1e-5)
    assert lm.window.size(0) == 3


def test_restores_training_mode_and_refuses_misuse():
    model = kind_model("gru").train()
    lm = incremental_lm(model)
    with pytest.raises(RuntimeError, match="prefill"):
        lm.step(torch.tensor([1]))
    logits = lm.prefill(torch.randint(0, 23, (1, 4)))
    assert model.training and not logits.requires_grad
    with pytest.raises(ValueError, match="one token per row"):
        lm.step(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="window must be one of"):
        incremental_lm(model, window="sliding")
