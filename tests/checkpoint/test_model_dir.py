"""Model directories: round trip, and nothing in them is ever unpickled."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from gptlab.checkpoint import load_model_dir, save_model_dir
from gptlab.errors import CheckpointError
from gptlab.model import GPT
from gptlab.tokenizer import train_tokenizer
from tests.helpers import model_config, tokenizer_config


@pytest.fixture
def model_dir(tmp_path):
    tok = train_tokenizer(tokenizer_config("char"), "hello world, the quick brown fox")
    tok_path = tmp_path / "tokenizer.json"
    tok.save(tok_path)
    torch.manual_seed(0)
    model = GPT(model_config("tiny", vocab_size=tok.vocab_size, context_size=16, n_layer=1, n_embd=16))
    out = save_model_dir(model, tok_path, tmp_path / "model", {"lineage": {"corpus_sha256": "abc"}})
    return out, model


def test_round_trip_gives_the_same_logits(model_dir):
    path, model = model_dir
    loaded = load_model_dir(path)
    idx = torch.randint(0, model.config.vocab_size, (2, 8))
    model.eval()
    assert torch.equal(loaded.model(idx)[0], model(idx)[0])
    assert loaded.info["lineage"]["corpus_sha256"] == "abc"
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_in_place_of_the_weights_is_refused_not_executed(model_dir, tmp_path):
    path, _ = model_dir
    marker = tmp_path / "pwned"
    (path / "model.safetensors").write_bytes(pickle.dumps({"w": _Payload(marker)}))
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_model_dir(path)
    assert not marker.exists()


def test_truncated_weights_are_refused(model_dir):
    path, _ = model_dir
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_model_dir(path)


def test_weights_from_another_config_are_refused(model_dir):
    path, _ = model_dir
    info = json.loads((path / "config.json").read_text())
    info["model"]["n_layer"] = 2
    (path / "config.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="does not match"):
        load_model_dir(path)


def test_a_swapped_tokenizer_is_refused(model_dir):
    path, _ = model_dir
    other = train_tokenizer(tokenizer_config("char"), "completely different text!")
    other.save(path / "tokenizer.json")
    with pytest.raises(CheckpointError, match="tokenizer"):
        load_model_dir(path)


def test_missing_directory_says_how_to_make_one(tmp_path):
    with pytest.raises(CheckpointError, match="dvc repro train"):
        load_model_dir(tmp_path / "nope")
