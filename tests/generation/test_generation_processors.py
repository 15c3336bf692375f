from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gptlab.generation import (
    apply_repetition_penalty,
    apply_temperature,
    apply_top_k,
    apply_top_p,
    mark_seen,
    mask_vocab_tail,
)

INF = math.inf


def kept(logits: torch.Tensor) -> list[list[int]]:
    """Ids not masked to -inf, per row."""
    return [torch.nonzero(torch.isfinite(row)).flatten().tolist() for row in logits]


# ---------------------------------------------------------------- temperature


def test_temperature_divides_logits() -> None:
    logits = torch.tensor([[1.0, -2.0, 4.0]])
    assert torch.equal(apply_temperature(logits, 2.0), torch.tensor([[0.5, -1.0, 2.0]]))
    assert apply_temperature(logits, 1.0) is logits


def test_temperature_towards_zero_approaches_greedy() -> None:
    logits = torch.tensor([[0.3, 1.2, 1.1, -0.5]])
    probs = torch.softmax(apply_temperature(logits, 1e-3), dim=-1)
    assert probs[0, 1] > 1 - 1e-6
    # ... and high temperature approaches uniform.
    flat = torch.softmax(apply_temperature(logits, 1e4), dim=-1)
    assert torch.allclose(flat, torch.full_like(flat, 0.25), atol=1e-4)


def test_temperature_must_be_positive() -> None:
    with pytest.raises(ValueError):
        apply_temperature(torch.zeros(1, 3), 0.0)


# ---------------------------------------------------------------- top-k


def test_top_k_keeps_the_k_largest() -> None:
    logits = torch.tensor([[1.0, 3.0, 2.0, 5.0], [4.0, 0.0, -1.0, 2.0]])
    out = apply_top_k(logits, 2)
    assert kept(out) == [[1, 3], [0, 3]]
    assert out[0, 1] == 3.0 and out[0, 3] == 5.0  # survivors unchanged
    assert logits[0, 0] == 1.0  # input not modified


def test_top_k_keeps_every_token_tied_with_the_kth() -> None:
    assert kept(apply_top_k(torch.tensor([[1.0, 2.0, 2.0, 0.0]]), 2)) == [[1, 2]]
    assert kept(apply_top_k(torch.tensor([[3.0, 1.0, 3.0]]), 1)) == [[0, 2]]
    assert kept(apply_top_k(torch.tensor([[2.0, 2.0, 2.0, 1.0]]), 2)) == [[0, 1, 2]]


def test_top_k_at_least_vocab_is_a_no_op() -> None:
    logits = torch.randn(2, 5)
    assert torch.equal(apply_top_k(logits, 5), logits)
    assert torch.equal(apply_top_k(logits, 50), logits)


# ---------------------------------------------------------------- top-p


def nucleus_logits(probs: list[float]) -> torch.Tensor:
    return torch.tensor([[math.log(p) for p in probs]])


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.01, [2]),  # always at least the most likely token
        (0.4, [2]),
        (0.6, [0, 2]),  # 0.5 < 0.6 <= 0.5 + 0.3
        (0.79, [0, 2]),
        (0.81, [0, 1, 2]),
        (0.96, [0, 1, 2, 3]),
        (1.0, [0, 1, 2, 3]),
    ],
)
def test_top_p_keeps_the_smallest_set_reaching_p(p: float, expected: list[int]) -> None:
    # Probabilities in shuffled order, to check the mask lands back on the right ids.
    logits = nucleus_logits([0.3, 0.15, 0.5, 0.05])
    assert kept(apply_top_p(logits, p)) == [expected]


def test_top_p_rows_are_independent_and_masked_tokens_stay_masked() -> None:
    logits = torch.tensor([[math.log(0.9), math.log(0.1), -INF], [math.log(0.4), -INF, math.log(0.6)]])
    assert kept(apply_top_p(logits, 0.5)) == [[0], [2]]
    assert kept(apply_top_p(logits, 0.95)) == [[0, 1], [0, 2]]


def reference_top_p(row: list[float], p: float) -> set[int]:
    """Smallest prefix of tokens sorted by probability (ties by id) with mass >= p."""
    probs = torch.softmax(torch.tensor(row, dtype=torch.float64), dim=0).tolist()
    order = sorted(range(len(row)), key=lambda i: (-row[i], i))
    keep, mass = set(), 0.0
    for i in order:
        keep.add(i)
        mass += probs[i]
        if mass >= p:
            break
    return keep


@settings(max_examples=200, deadline=None)
@given(
    row=st.lists(st.floats(-5, 5), min_size=1, max_size=12),
    p=st.floats(0.01, 0.99),
)
def test_top_p_matches_a_reference(row: list[float], p: float) -> None:
    got = set(kept(apply_top_p(torch.tensor([row], dtype=torch.float64), p))[0])
    want = reference_top_p(row, p)
    if got != want:
        # Only float round-off right at the boundary may disagree: the mass before the
        # token in question must then be within rounding of p.
        probs = torch.softmax(torch.tensor(row, dtype=torch.float64), dim=0)
        assert abs(float(probs[sorted(want)].sum()) - p) < 1e-9 or abs(float(probs[sorted(got)].sum()) - p) < 1e-9
    assert got  # never empty


# ---------------------------------------------------------------- repetition penalty


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits() -> None:
    logits = torch.tensor([[2.0, -2.0, 0.5, -1.0]])
    seen = torch.tensor([[True, True, False, False]])
    out = apply_repetition_penalty(logits, seen, 2.0)
    assert out.tolist() == [[1.0, -4.0, 0.5, -1.0]]


def test_repetition_penalty_above_one_always_lowers_seen_tokens() -> None:
    logits = torch.tensor([[3.0, -3.0, 0.0, 1.0, -1.0]])
    seen = torch.tensor([[True, True, False, False, False]])
    before = torch.softmax(logits, -1)
    after = torch.softmax(apply_repetition_penalty(logits, seen, 1.5), -1)
    assert after[0, 0] < before[0, 0] and after[0, 1] < before[0, 1]
    assert torch.all(after[0, 2:] > before[0, 2:])
    # Below one, it raises the seen logits instead, whatever their sign.
    encouraged = apply_repetition_penalty(logits, seen, 0.5)
    assert encouraged[0, 0] > logits[0, 0] and encouraged[0, 1] > logits[0, 1]


def test_repetition_penalty_one_is_a_no_op() -> None:
    logits = torch.randn(2, 4)
    assert torch.equal(apply_repetition_penalty(logits, torch.ones(2, 4, dtype=torch.bool), 1.0), logits)


def test_mark_seen_handles_duplicates_and_rows() -> None:
    seen = torch.zeros(2, 5, dtype=torch.bool)
    out = mark_seen(seen, torch.tensor([[1, 1, 3], [0, 0, 0]]))
    assert out.tolist() == [[False, True, False, True, False], [True, False, False, False, False]]
    assert not seen.any()  # input untouched
    assert mark_seen(out, torch.tensor([4, 4]))[:, 4].all()


def test_mask_vocab_tail() -> None:
    logits = torch.zeros(1, 6)
    assert kept(mask_vocab_tail(logits, 4)) == [[0, 1, 2, 3]]
    assert mask_vocab_tail(logits, 6) is logits
