"""The window plan scores every target (token after the first) exactly once."""

from __future__ import annotations

import pytest

from gptlab.errors import ConfigError
from gptlab.evaluation import count_windows, plan_windows


def scored_targets(n: int, context: int, stride: int | None) -> list[int]:
    """Absolute indices of the tokens each window scores, in order."""
    out = []
    for w in plan_windows(n, context, stride):
        out += [w.start + 1 + p for p in range(w.score_from, w.length)]
    return out


@pytest.mark.parametrize("n", [0, 1, 2, 3, 8, 9, 10, 17, 33, 100])
@pytest.mark.parametrize("context,stride", [(1, None), (4, None), (8, None), (8, 1), (8, 3), (8, 8), (16, 5)])
def test_every_token_after_the_first_is_scored_exactly_once(n, context, stride):
    assert scored_targets(n, context, stride) == list(range(1, n))
    assert count_windows(n, context, stride) == len(list(plan_windows(n, context, stride)))


@pytest.mark.parametrize("n,context,stride", [(100, 8, None), (100, 8, 3), (5, 8, None), (9, 8, 1)])
def test_windows_share_one_length_and_stay_inside_the_array(n, context, stride):
    windows = list(plan_windows(n, context, stride))
    assert {w.length for w in windows} == {min(context, n - 1)}
    for w in windows:
        assert 0 <= w.start and w.start + w.length + 1 <= n  # inputs and targets both fit
        assert 0 <= w.score_from < w.length


def test_default_windows_do_not_overlap_before_the_last():
    windows = list(plan_windows(34, 8))
    assert [(w.start, w.score_from) for w in windows] == [(0, 0), (8, 0), (16, 0), (24, 0), (25, 7)]
    # The last chunk (target 33) borrows earlier tokens to fill a whole window.


def test_stride_one_gives_every_later_token_a_full_context():
    for w in list(plan_windows(30, 8, stride=1))[1:]:
        assert w.length == 8 and w.scored == 1  # the one scored target sees all 8 inputs


@pytest.mark.parametrize("stride", [0, 9, -1])
def test_stride_outside_one_to_context_is_a_config_error(stride):
    with pytest.raises(ConfigError, match="evaluate.stride"):
        list(plan_windows(100, 8, stride))
