"""Model directories of every kind: the config (with its kind) and weights load back, no pickle."""

from __future__ import annotations

import json

import pytest
import torch

from gptlab.checkpoint import load_model_dir, save_model_dir
from gptlab.errors import CheckpointError
from gptlab.tokenizer import train_tokenizer
from tests.helpers import tokenizer_config
from tests.model.kinds import kind_model


@pytest.fixture(scope="module")
def tokenizer_path(tmp_path_factory):
    tok = train_tokenizer(tokenizer_config("char"), "hello world, the quick brown fox")
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(path)
    return path, tok.vocab_size


@pytest.mark.parametrize("kind", ["gpt", "bigram", "rnn", "lstm", "gru"])
@pytest.mark.parametrize("tie_weights", [True, False])
def test_round_trip_gives_the_same_model_and_logits(tmp_path, tokenizer_path, kind: str, tie_weights: bool):
    tok_path, vocab = tokenizer_path
    extra = {} if kind == "bigram" else {"tie_weights": tie_weights}
    model = kind_model(kind, scale=0.3, vocab_size=vocab, **extra)
    out = save_model_dir(model, tok_path, tmp_path / "model")
    saved = json.loads((out / "config.json").read_text())["model"]
    assert saved["kind"] == kind
    loaded = load_model_dir(out)
    assert type(loaded.model) is type(model) and loaded.model.config == model.config
    assert not loaded.model.training
    idx = torch.randint(0, vocab, (2, 8))
    with torch.no_grad():
        assert torch.equal(loaded.model(idx)[0], model(idx)[0])


def test_an_old_gpt_model_dir_without_kind_still_loads(tmp_path, tokenizer_path):
    tok_path, vocab = tokenizer_path
    model = kind_model("gpt", vocab_size=vocab)
    out = save_model_dir(model, tok_path, tmp_path / "model")
    info = json.loads((out / "config.json").read_text())
    del info["model"]["kind"]
    (out / "config.json").write_text(json.dumps(info))
    assert load_model_dir(out).model.config == model.config


def test_weights_of_another_kind_are_refused(tmp_path, tokenizer_path):
    tok_path, vocab = tokenizer_path
    out = save_model_dir(kind_model("lstm", vocab_size=vocab), tok_path, tmp_path / "model")
    info = json.loads((out / "config.json").read_text())
    info["model"]["kind"] = "gru"  # same keys, other weights' shapes
    (out / "config.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="does not match its config"):
        load_model_dir(out)
