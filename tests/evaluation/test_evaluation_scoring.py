"""score_tokens sums exactly the per-token NLL a direct computation gives."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gptlab.errors import DataError
from gptlab.evaluation import plan_windows, score_tokens
from gptlab.model import GPT
from tests.helpers import model_config

VOCAB, CONTEXT = 13, 8


@pytest.fixture
def model() -> GPT:
    torch.manual_seed(0)
    m = GPT(model_config("tiny", vocab_size=VOCAB, context_size=CONTEXT, n_layer=2, n_head=2, n_embd=16))
    with torch.no_grad():  # larger weights, so that context differences change the logits
        for p in m.parameters():
            p.normal_(0.0, 0.3)
    return m.eval()


def tokens(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, size=n).astype(np.uint16)


def nll_of(model: GPT, context: np.ndarray, target: int) -> float:
    """-log p(target | context) from one plain forward pass."""
    with torch.no_grad():
        logits, _ = model(torch.tensor(context[None, :], dtype=torch.long))
    return float(-F.log_softmax(logits[0, -1].double(), dim=-1)[target])


def test_equals_a_direct_full_computation_when_the_array_fits_one_window(model):
    arr = tokens(CONTEXT + 1)
    x = torch.tensor(arr[:-1], dtype=torch.long)[None]
    y = torch.tensor(arr[1:], dtype=torch.long)[None]
    with torch.no_grad():
        _, mean_loss = model(x, y)
    score = score_tokens(model, arr, progress=False)
    assert score.tokens == CONTEXT
    assert score.nll / score.tokens == pytest.approx(float(mean_loss), rel=1e-6)


def test_stride_one_scores_each_token_from_its_last_context_tokens(model):
    arr = tokens(30)
    expected = sum(nll_of(model, arr[max(0, t - CONTEXT) : t], int(arr[t])) for t in range(1, len(arr)))
    score = score_tokens(model, arr, stride=1, batch_size=5, progress=False)
    assert score.tokens == len(arr) - 1
    assert score.nll == pytest.approx(expected, rel=1e-6)


def test_default_windows_match_a_per_token_computation(model):
    arr = tokens(27)
    expected = 0.0
    for w in plan_windows(len(arr), CONTEXT):
        for p in range(w.score_from, w.length):
            t = w.start + 1 + p  # the target; its context is the window up to it
            expected += nll_of(model, arr[w.start : t], int(arr[t]))
    score = score_tokens(model, arr, progress=False)
    assert score.tokens == 26
    assert score.nll == pytest.approx(expected, rel=1e-6)


def test_batching_changes_the_sum_only_by_float_round_off(model):
    arr = tokens(200)
    sums = {b: score_tokens(model, arr, batch_size=b, progress=False).nll for b in (1, 3, 64)}
    assert sums[1] == pytest.approx(sums[3], rel=1e-6) and sums[1] == pytest.approx(sums[64], rel=1e-6)


def test_more_context_per_token_does_not_change_the_count(model):
    arr = tokens(100)
    assert {score_tokens(model, arr, stride=s, progress=False).tokens for s in (1, 3, CONTEXT)} == {99}


@pytest.mark.parametrize("n", [0, 1])
def test_nothing_to_score_in_arrays_shorter_than_two(model, n):
    score = score_tokens(model, tokens(n), progress=False)
    assert (score.nll, score.tokens) == (0.0, 0)


def test_dropout_is_off_during_scoring_and_the_mode_is_restored():
    torch.manual_seed(0)
    m = GPT(model_config("tiny", vocab_size=VOCAB, context_size=CONTEXT, n_layer=1, n_head=2, n_embd=16, dropout=0.5))
    m.train()
    arr = tokens(50)
    first = score_tokens(m, arr, progress=False)
    second = score_tokens(m, arr, progress=False)
    assert first == second and math.isfinite(first.nll)
    assert m.training


def test_ids_outside_the_vocabulary_are_a_data_error(model):
    arr = tokens(20)
    arr[5] = VOCAB + 3
    with pytest.raises(DataError, match="outside the model's vocabulary"):
        score_tokens(model, arr, progress=False)
