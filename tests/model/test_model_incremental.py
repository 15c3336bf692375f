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


# ------------------------------------------------------------------ window="chunked"


def _chunked_lengths(prompt_len: int, ctx: int, keep_tokens: int, steps: int) -> list[int]:
    """The chunked window's length after the prefill and after each of ``steps`` steps."""
    lengths = [min(prompt_len, ctx)]
    for _ in range(steps):
        n = lengths[-1] + 1
        lengths.append(keep_tokens if n > ctx else n)
    return lengths


def _window_forward_lengths(model: GPT) -> list[int]:
    """Spy: the time length of every hidden_states call on ``model``."""
    seen: list[int] = []
    original = model.hidden_states

    def spy(idx, kv_cache=None):  # type: ignore[no-untyped-def]
        seen.append(idx.size(1))
        return original(idx, kv_cache)

    model.hidden_states = spy  # type: ignore[method-assign]
    return seen


@pytest.mark.parametrize("pos_encoding", POS_ENCODINGS)
def test_chunked_cached_matches_uncached_over_the_same_window(make_model: MakeModel, pos_encoding: str) -> None:
    model = make_model(scale=0.3, pos_encoding=pos_encoding)
    ctx = model.config.context_size
    cached = IncrementalLM(model, use_cache=True, window="chunked")
    uncached = IncrementalLM(model, use_cache=False, window="chunked")
    assert cached.keep_tokens == ctx // 2
    steps = 2 * ctx + 3  # two full cut-and-refill cycles, ending mid-cycle
    lengths = _chunked_lengths(4, ctx, ctx // 2, steps)
    g = torch.Generator().manual_seed(0)
    history = torch.randint(0, 23, (2, 4), generator=g)
    a, b = cached.prefill(history), uncached.prefill(history)
    for i in range(steps + 1):
        window = history[:, -lengths[i] :]
        assert torch.equal(cached.window, window) and torch.equal(uncached.window, window)
        with torch.no_grad():
            reference = model(window)[0][:, -1]
        torch.testing.assert_close(b, reference, rtol=0, atol=ATOL)
        torch.testing.assert_close(a, reference, rtol=0, atol=ATOL)
        if i == steps:
            break
        nxt = torch.randint(0, 23, (2,), generator=g)
        history = torch.cat((history, nxt[:, None]), dim=1)
        a, b = cached.step(nxt), uncached.step(nxt)
    assert history.size(1) > 2 * ctx
    # The policy really differs from "exact" past the context: here the window is short.
    assert lengths[-1] < ctx
    exact = _reference(model, history)
    assert (exact - a).abs().max() > 1e-3


@pytest.mark.parametrize("pos_encoding", POS_ENCODINGS)
def test_chunked_cache_refills_once_per_cycle(make_model: MakeModel, pos_encoding: str) -> None:
    model = make_model(pos_encoding=pos_encoding)
    ctx = model.config.context_size
    lm = IncrementalLM(model, window="chunked")
    seen = _window_forward_lengths(model)
    lm.prefill(torch.randint(0, 23, (1, 3)))
    for _ in range(2 * ctx + 5):
        lm.step(torch.randint(0, 23, (1,)))
    # The prompt, then one refill from ctx // 2 tokens per cycle; every other call is one token.
    lengths = _chunked_lengths(3, ctx, ctx // 2, 2 * ctx + 5)
    cuts = sum(after < before for before, after in zip(lengths, lengths[1:]))
    assert cuts >= 2
    assert [n for n in seen if n > 1] == [3] + [ctx // 2] * cuts
    assert len(seen) == 1 + 2 * ctx + 5


def test_chunked_keep_fraction_and_exact_equivalence(make_model: MakeModel) -> None:
    model = make_model(scale=0.3)
    ctx = model.config.context_size
    assert IncrementalLM(model, window="chunked", keep=0.25).keep_tokens == ctx // 4
    assert IncrementalLM(model, window="chunked", keep=1e-6).keep_tokens == 1
    # keep=1.0 cuts to the last context_size tokens: the exact window every step.
    lm = IncrementalLM(model, window="chunked", keep=1.0)
    history = torch.randint(0, 23, (2, 5))
    lm.prefill(history)
    for _ in range(2 * ctx):
        nxt = torch.randint(0, 23, (2,))
        history = torch.cat((history, nxt[:, None]), dim=1)
        logits = lm.step(nxt)
        torch.testing.assert_close(logits, _reference(model, history), rtol=0, atol=ATOL)


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("pos_encoding", POS_ENCODINGS)
def test_chunked_reorder_expands_and_permutes_rows(make_model: MakeModel, pos_encoding: str, use_cache: bool) -> None:
    model = make_model(scale=0.3, pos_encoding=pos_encoding)
    ctx = model.config.context_size
    lm = IncrementalLM(model, use_cache=use_cache, window="chunked")
    history = torch.randint(0, 23, (1, 5))
    lm.prefill(history)
    lm.reorder(torch.zeros(3, dtype=torch.long))  # num_samples expansion
    history = history.expand(3, -1)
    length = 5

    def push(nxt: torch.Tensor) -> torch.Tensor:
        nonlocal history, length
        history = torch.cat((history, nxt[:, None]), dim=1)
        length = length + 1 if length < ctx else ctx // 2
        logits = lm.step(nxt)
        assert lm.window.shape == (3, length)
        with torch.no_grad():
            reference = model(history[:, -length:])[0][:, -1]
        torch.testing.assert_close(logits, reference, rtol=0, atol=ATOL)
        return logits

    for t in range(2 * ctx):  # crosses the context and two refills
        push(torch.randint(0, 23, (3,)))
        if t in (2, 7, 8, 12, 20):  # before the first cut, at a cut, right after, mid-cycle
            index = torch.tensor([2, 0, 0])
            lm.reorder(index)
            history = history[index]
            push(torch.tensor([4, 5, 6]))


def test_bad_window_policy_raises(make_model: MakeModel) -> None:
    model = make_model()
    with pytest.raises(ValueError, match="window"):
        IncrementalLM(model, window="sliding")
    for keep in (0.0, 1.5, True):
        with pytest.raises(ValueError, match="keep"):
            IncrementalLM(model, window="chunked", keep=keep)


def test_generation_config_lists_the_same_window_policies() -> None:
    from gptlab.generation.config import CACHE_WINDOWS
    from gptlab.model.incremental import WINDOW_POLICIES

    assert CACHE_WINDOWS == WINDOW_POLICIES
