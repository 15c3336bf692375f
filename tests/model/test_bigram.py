"""The bigram model: next-token logits from the current token alone."""

from __future__ import annotations

import math

import torch

from tests.model.kinds import kind_model, train_on


def test_logits_depend_on_the_current_token_only():
    model = kind_model("bigram", scale=1.0)
    idx = torch.randint(0, 23, (3, 12))
    other = torch.randint(0, 23, (3, 12))
    other[:, 5] = idx[:, 5]
    with torch.no_grad():
        assert torch.equal(model(idx)[0][:, 5], model(other)[0][:, 5])
        assert torch.equal(model(idx)[0][:, 5], model.table.weight[idx[:, 5]])


def test_first_loss_is_a_uniform_guess_and_it_learns_the_bigram_statistics():
    torch.manual_seed(0)
    model = kind_model("bigram").train()
    # After token t comes (t + 1) % 5: a bigram model can be certain.
    seq = torch.arange(60) % 5
    x, y = seq[None, :-1], seq[None, 1:]
    _, loss = model(x, y)
    assert abs(float(loss.detach()) - math.log(23)) < 0.05
    assert train_on(model, x, y, lr=0.1, steps=60) < 0.05


def test_ignored_targets_and_accounting():
    model = kind_model("bigram")
    idx = torch.randint(0, 23, (2, 12))
    targets = idx.clone()
    targets[:, :6] = -1
    _, loss = model(idx, targets)
    _, half = model(idx[:, 6:], idx[:, 6:])
    torch.testing.assert_close(loss, half)
    assert model.num_params() == 23 * 23
    assert model.flops_per_token() == 0.0  # a lookup multiplies nothing
