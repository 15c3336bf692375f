"""lr_at: linear warmup, cosine decay, and the min_lr floor.

Expected values are worked out by hand (cos of round fractions of pi), not by calling
the schedule's own formula.
"""

from __future__ import annotations

import pytest

from gptlab.training.schedule import lr_at

LR, MIN_LR = 1.0, 0.1


def _lr(step: int, warmup: int = 4, total: int = 12) -> float:
    return lr_at(step, LR, MIN_LR, warmup, total)


def test_warmup_is_linear_and_starts_above_zero() -> None:
    # (step + 1) / warmup: the first optimizer step already learns.
    assert [_lr(s) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_cosine_decay_from_lr_to_min_lr() -> None:
    # After 4 warmup steps, 8 decay steps: progress p = (step - 4) / 8 and
    # lr = 0.1 + 0.9 * (1 + cos(pi p)) / 2.
    expected = {
        4: 1.0,  # p = 0: the peak, continuous with the end of warmup
        6: 0.1 + 0.45 * (1 + 0.7071067811865476),  # p = 1/4, cos = sqrt(2)/2
        8: 0.55,  # p = 1/2, cos = 0: halfway between lr and min_lr
        10: 0.1 + 0.45 * (1 - 0.7071067811865476),  # p = 3/4
        11: 0.1 + 0.45 * (1 - 0.9238795325112867),  # p = 7/8, cos = -cos(pi/8)
    }
    for step, lr in expected.items():
        assert _lr(step) == pytest.approx(lr, abs=1e-12), step


def test_floor_at_and_after_the_last_step() -> None:
    assert _lr(12) == MIN_LR
    assert _lr(13) == MIN_LR
    assert _lr(10_000) == MIN_LR


def test_never_below_the_floor_and_never_above_lr() -> None:
    lrs = [_lr(s, warmup=10, total=100) for s in range(120)]
    assert min(lrs) == MIN_LR
    assert max(lrs) == LR
    decay = lrs[9:101]
    assert all(a >= b for a, b in zip(decay, decay[1:])), "the decay must be monotone"


def test_no_warmup_starts_at_the_peak() -> None:
    assert lr_at(0, 3e-4, 3e-5, 0, 10) == pytest.approx(3e-4)
    assert lr_at(5, 3e-4, 3e-5, 0, 10) == pytest.approx(3e-5 + 0.5 * (3e-4 - 3e-5))


def test_zero_floor_decays_to_zero() -> None:
    assert lr_at(9, 1.0, 0.0, 0, 10) == pytest.approx(0.5 * (1 - 0.9510565162951535))  # cos(0.9 pi)
    assert lr_at(10, 1.0, 0.0, 0, 10) == 0.0


def test_warmup_as_long_as_training() -> None:
    # No decay span left: warmup to the peak, then straight to the floor.
    assert lr_at(4, 1.0, 0.1, 5, 5) == pytest.approx(1.0)
    assert lr_at(5, 1.0, 0.1, 5, 5) == 0.1
