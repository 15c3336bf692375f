"""Validation loss by position in the context window."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gptlab.errors import DataError
from gptlab.evaluation.position_loss import PositionLoss, loss_by_position, write_position_losses
from tests.model.kinds import kind_model


@pytest.mark.parametrize("kind", ["gpt", "lstm"])
def test_each_position_is_the_mean_over_the_whole_windows(kind: str):
    model = kind_model(kind, scale=0.5)  # context 12
    tokens = np.random.default_rng(0).integers(0, 23, size=12 * 7 + 5).astype(np.uint16)  # 7 whole windows + a part
    result = loss_by_position(model, tokens, batch_size=3)  # batches of 3, 3 and 1 windows
    assert result.windows == 7 and len(result.loss) == 12
    expected = torch.zeros(12, dtype=torch.float64)
    with torch.no_grad():
        for w in range(7):
            window = torch.from_numpy(tokens[w * 12 : w * 12 + 13].astype(np.int64))[None]
            expected += F.cross_entropy(model(window[:, :-1])[0][0], window[0, 1:], reduction="none").double()
    np.testing.assert_allclose(result.loss, (expected / 7).numpy(), rtol=1e-5)


def test_a_model_with_memory_gains_from_context():
    """The token after a 0 is fixed by the token before the 0: at position 0 (one token of
    context) a window starting on a 0 is a guess; from position 1 on, a state knows."""
    seq = np.array([1, 0, 2, 3, 0, 4, 5] * 40, dtype=np.uint16)  # period 7: windows of 12 start anywhere in it
    windows = torch.from_numpy(seq[: 12 * 23 + 1].astype(np.int64))
    x = torch.stack([windows[i : i + 13] for i in range(0, 12 * 23, 12)])  # the split's own windows
    torch.manual_seed(0)
    model = kind_model("gru", n_layer=1, n_embd=32).train()
    opt = torch.optim.AdamW(model.parameters(), lr=0.03)
    for _ in range(150):
        _, loss = model(x[:, :-1], x[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    result = loss_by_position(model, seq)
    assert result.loss[0] > 0.1  # 2 windows in 7 start on a 0: ln 2 each
    assert max(result.loss[1:]) < 0.05


def test_too_short_a_split_is_a_data_error_and_the_csv_has_a_column_per_model(tmp_path):
    model = kind_model("bigram")
    with pytest.raises(DataError, match="fewer than one window"):
        loss_by_position(model, np.zeros(12, dtype=np.uint16))
    out = write_position_losses(
        tmp_path / "sub" / "loss_by_position.csv",
        {"a": PositionLoss((1.0, 0.5, 0.25), 4), "b": PositionLoss((2.0, 1.0, math.pi), 4)},
    )
    assert out.read_text().splitlines() == ["position,a,b", "0,1.0000,2.0000", "1,0.5000,1.0000", "2,0.2500,3.1416"]
    with pytest.raises(ValueError, match="different context"):
        write_position_losses(tmp_path / "x.csv", {"a": PositionLoss((1.0,), 1), "b": PositionLoss((1.0, 2.0), 1)})
