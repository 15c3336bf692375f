"""A gptlab model directory as a pretrained model (train.init_from, an adapter's base)."""

from __future__ import annotations

import pytest
import torch

from gptlab.checkpoint import save_model_dir
from gptlab.checkpoint.pretrained import load_pretrained, read_pretrained
from gptlab.errors import CheckpointError
from gptlab.model import GPT
from gptlab.tokenizer import train_tokenizer
from tests.helpers import model_config, tokenizer_config


@pytest.fixture
def model_dir(tmp_path):
    tok = train_tokenizer(tokenizer_config("char"), "hello world, the quick brown fox")
    tok.save(tmp_path / "tokenizer.json")
    torch.manual_seed(0)
    model = GPT(model_config("tiny", vocab_size=tok.vocab_size, context_size=16, n_layer=1, n_embd=16))
    return save_model_dir(model, tmp_path / "tokenizer.json", tmp_path / "model"), model


def test_its_weights_load_into_a_gpt_of_its_config(model_dir):
    path, model = model_dir
    pre = read_pretrained(path)
    assert pre.kind == "gptlab" and pre.config == model.config
    loaded = load_pretrained(GPT(pre.config), pre)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name


def test_a_swapped_tokenizer_is_refused(model_dir):
    path, _ = model_dir
    train_tokenizer(tokenizer_config("char"), "completely different text!").save(path / "tokenizer.json")
    with pytest.raises(CheckpointError, match="not the tokenizer this model was trained with"):
        read_pretrained(path)
