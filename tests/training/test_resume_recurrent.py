"""A recurrent model resumes bitwise, as the GPT does (the model kind changes nothing in training)."""

from __future__ import annotations

import torch

from gptlab.config import to_dataclass
from gptlab.model import parse_model_config
from gptlab.training.config import OptimConfig
from gptlab.training.module import GPTLightningModule
from tests.helpers import compose
from tests.training.test_precision_cpu import CONTEXT, VOCAB, processed, straight_and_resumed  # noqa: F401


def lstm_module(max_steps: int) -> GPTLightningModule:
    cfg = compose("model=lstm", f"model.context_size={CONTEXT}", "model.n_embd=16", "model.dropout=0.0",
                  "optim.lr=3e-3", "optim.warmup_steps=2")  # fmt: skip
    model = parse_model_config(cfg.model, vocab_size=VOCAB)
    torch.manual_seed(0)
    return GPTLightningModule(model, to_dataclass(OptimConfig, cfg.optim, "optim"), max_steps)


def test_an_lstm_resumed_from_a_checkpoint_ends_bitwise_where_a_straight_run_does(tmp_path, processed):  # noqa: F811
    straight, first, resumed, trainer = straight_and_resumed(tmp_path, processed, lstm_module, "32-true", 10)

    assert trainer.global_step == 10
    assert not torch.equal(first.model.rnn.weight_hh_l0, straight.model.rnn.weight_hh_l0)  # it did move on
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_a_checkpoint_from_before_model_kind_resumes_a_gpt_and_not_an_lstm(tmp_path):
    import pytest

    from gptlab.errors import CheckpointError
    from gptlab.training.resume import read_checkpoint
    from tests.model.kinds import kind_config

    gpt = kind_config("gpt")
    old = {k: v for k, v in gpt.to_dict().items() if k != "kind"}
    path = tmp_path / "old.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"model": old}}, path)
    assert read_checkpoint(path, gpt)["hyper_parameters"]["model"] == old
    with pytest.raises(CheckpointError, match="kind: checkpoint 'gpt' vs config 'lstm'"):
        read_checkpoint(path, kind_config("lstm"))
