from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from gptlab.model import GPT, IncrementalLM
from gptlab.model.config import POS_ENCODINGS

MakeModel = Callable[..., GPT]
ATOL = 1e-5


def _reference(model: GPT, history: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(history[:, -model.config.context_size :])[0][:, -1]


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("pos_encoding", POS_ENCODINGS)
def test_matches_uncached_model_past_the_context(
    make_model: MakeModel, pos_encoding: str, use_cache: bool
) -> None:
    model = make_model(scale=0.3, pos_encoding=pos_encoding)
    ctx = model.config.context_size
    lm = IncrementalLM(model, use_cache=use_cache)
    assert (lm.context_size, lm.vocab_size) == (ctx, 23)
    g = torch.Generator().manual_seed(0)
    history = torch.randint(0, 23, (2, 4), generator=g)
    logits = lm.prefill(history)
    for _ in range(2 * ctx + 3):  # fills the context, then slides well past it
        assert logits.shape == (2, 23)
        torch.testing.assert_close(logits, _reference(model, history), rtol=0, atol=ATOL)
        nxt = torch.randint(0, 23, (2,), generator=g)
        history = torch.cat((history, nxt[:, None]), dim=1)
        logits = lm.step(nxt)
    torch.testing.assert_close(logits, _reference(model, history), rtol=0, atol=ATOL)
    # The test can tell windows apart: an off-by-one crop would fail it.
    off_by_one = model(history[:, -ctx + 1 :])[0][:, -1]
    assert (off_by_one - logits).abs().max() > 1e-3


@pytest.mark.parametrize("pos_encoding", POS_ENCODINGS)
def test_prefill_longer_than_context_crops_left(make_model: MakeModel, pos_encoding: str) -> None:
    model = make_model(scale=0.3, pos_encoding=pos_encoding)
    lm = IncrementalLM(model)
    history = torch.randint(0, 23, (3, 20))
    torch.testing.assert_close(lm.prefill(history), _reference(model, history), rtol=0, atol=ATOL)
    assert lm.window.shape == (3, 12)
    nxt = torch.tensor([1, 2, 3])
    history = torch.cat((history, nxt[:, None]), dim=1)
    torch.testing.assert_close(lm.step(nxt), _reference(model, history), rtol=0, atol=ATOL)


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("pos_encoding", POS_ENCODINGS)
def test_reorder_expands_and_permutes_rows(
    make_model: MakeModel, pos_encoding: str, use_cache: bool
) -> None:
    model = make_model(scale=0.3, pos_encoding=pos_encoding)
    lm = IncrementalLM(model, use_cache=use_cache)
    history = torch.randint(0, 23, (1, 5))
    lm.prefill(history)
    lm.reorder(torch.zeros(3, dtype=torch.long))  # num_samples expansion
    history = history.expand(3, -1)
    for t in range(12):  # crosses the context boundary
        nxt = torch.randint(0, 23, (3,))
        history = torch.cat((history, nxt[:, None]), dim=1)
        logits = lm.step(nxt)
        torch.testing.assert_close(logits, _reference(model, history), rtol=0, atol=ATOL)
        if t in (2, 9):  # beam-style reorder before and after the window slides
            index = torch.tensor([2, 0, 0])
            lm.reorder(index)
            history = history[index]
            nxt = torch.tensor([4, 5, 6])
            history = torch.cat((history, nxt[:, None]), dim=1)
            torch.testing.assert_close(lm.step(nxt), _reference(model, history), rtol=0, atol=ATOL)


def test_restores_training_mode_and_needs_no_grad(make_model: MakeModel) -> None:
    model = make_model(scale=0.3, dropout=0.3).train()
    lm = IncrementalLM(model)
    history = torch.randint(0, 23, (2, 6))
    logits = lm.prefill(history)
    assert model.training
    assert not logits.requires_grad
    model.eval()
    torch.testing.assert_close(logits, _reference(model, history), rtol=0, atol=ATOL)


def test_misuse_raises(make_model: MakeModel) -> None:
    lm = IncrementalLM(make_model())
    with pytest.raises(RuntimeError, match="prefill"):
        lm.step(torch.tensor([1]))
    with pytest.raises(ValueError):
        lm.prefill(torch.zeros(2, 0, dtype=torch.long))
    lm.prefill(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="one token per row"):
        lm.step(torch.tensor([1, 2, 3]))
