"""eval_mode: no dropout inside, the caller's mode after (even when the block raises)."""

from __future__ import annotations

import pytest
from torch import nn

from gptlab.model.eval_mode import eval_mode


def test_a_training_model_is_in_eval_inside_and_trains_again_after():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)).train()
    with eval_mode(model):
        assert not model.training and not model[1].training
    assert model.training and model[1].training
    with pytest.raises(RuntimeError), eval_mode(model):
        raise RuntimeError("boom")
    assert model.training


def test_a_model_in_eval_stays_in_eval():
    model = nn.Dropout(0.5).eval()
    with eval_mode(model):
        assert not model.training
    assert not model.training
