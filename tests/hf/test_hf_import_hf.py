"""Hugging Face GPT-2 directories saved by transformers import into gptlab: same logits, clear refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from gptlab.checkpoint.pretrained import read_pretrained
from gptlab.errors import CheckpointError
from gptlab.hf.export import export_hf_dir
from gptlab.hf.import_hf import import_hf_dir, load_pretrained_model
from tests.hf.conftest import save_hf_gpt2

TOLERANCE = 1e-4


def _hf_logits(path: Path, idx: torch.Tensor) -> torch.Tensor:
    from transformers import AutoModelForCausalLM

    with torch.no_grad():
        return AutoModelForCausalLM.from_pretrained(path).eval()(idx).logits


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({}, id="gpt2-defaults-gelu_new-tied"),
        pytest.param({"tie_word_embeddings": False, "activation_function": "gelu"}, id="untied-gelu"),
        pytest.param({"activation_function": "relu", "n_inner": 64}, id="relu-n_inner"),
    ],
)
def test_imported_gpt2_gives_transformers_logits(tmp_path, config):
    path = save_hf_gpt2(tmp_path / "gpt2", **config)
    model = load_pretrained_model(path)
    expected = {"gelu": "gelu", "relu": "relu"}.get(config.get("activation_function"), "gelu_tanh")
    assert model.config.activation == expected
    assert model.config.tie_weights == config.get("tie_word_embeddings", True)
    idx = torch.randint(0, model.config.vocab_size, (2, 32), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = model(idx)[0]
    assert float((ours - _hf_logits(path, idx)).abs().max()) <= TOLERANCE


def test_import_writes_a_gptlab_model_directory(hf_gpt2_dir, tmp_path):
    from gptlab.checkpoint import load_model_dir

    out = import_hf_dir(hf_gpt2_dir, tmp_path / "gptlab")
    loaded = load_model_dir(out)
    assert loaded.model.config.context_size == 32  # GPT-2's n_positions
    assert loaded.tokenizer.kind == "bpe" and loaded.tokenizer.vocab_size == loaded.model.config.vocab_size
    idx = torch.randint(0, 300, (1, 20), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert float((loaded.model(idx)[0] - _hf_logits(hf_gpt2_dir, idx)).abs().max()) <= TOLERANCE


@pytest.mark.parametrize(
    ("kind", "overrides"),
    [
        pytest.param("char", {"pos_encoding": "learned"}, id="learned-char"),
        pytest.param("bpe", {"pos_encoding": "sinusoidal", "bias": False, "tie_weights": False}, id="sinusoidal-bpe"),
        pytest.param("char", {"pos_encoding": "rope", "activation": "gelu_tanh"}, id="rope-char"),
    ],
)
def test_export_import_export_gives_identical_files(make_model_dir, char_tokenizer, bpe_tokenizer, tmp_path, kind,
                                                   overrides):  # fmt: skip
    tokenizer = char_tokenizer if kind == "char" else bpe_tokenizer
    first = export_hf_dir(make_model_dir(tokenizer, **overrides), tmp_path / "first")
    back = import_hf_dir(first, tmp_path / "gptlab")
    second = export_hf_dir(back, tmp_path / "second")
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


# ---------------------------------------------------------------------------- refusals


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="pretrained model directory not found: .*nope"):
        read_pretrained(tmp_path / "nope")


def test_directory_without_config(tmp_path):
    with pytest.raises(CheckpointError, match="has no config.json"):
        read_pretrained(tmp_path)


def test_directory_without_weights(hf_gpt2_dir):
    (hf_gpt2_dir / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="has no model.safetensors: it holds no weights"):
        read_pretrained(hf_gpt2_dir)


def test_pickle_only_checkpoint_is_never_loaded(hf_gpt2_dir):
    (hf_gpt2_dir / "model.safetensors").unlink()
    marker = hf_gpt2_dir / "pwned"
    # A pickle that would create a file if it were ever unpickled.
    import pickle

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (hf_gpt2_dir / "pytorch_model.bin").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match=r"only as pytorch_model\.bin, a pickle.*does not load it"):
        read_pretrained(hf_gpt2_dir)
    assert not marker.exists()


def test_unknown_model_type(hf_gpt2_dir):
    config = json.loads((hf_gpt2_dir / "config.json").read_text())
    (hf_gpt2_dir / "config.json").write_text(json.dumps({**config, "model_type": "llama"}))
    with pytest.raises(CheckpointError, match="model_type 'llama' cannot be imported; gptlab imports gpt2"):
        read_pretrained(hf_gpt2_dir)


def test_tokenizer_of_another_vocabulary(hf_gpt2_dir, tmp_path):
    from tests.hf.conftest import hf_bpe_tokenizer

    other = tmp_path / "other"
    hf_bpe_tokenizer(vocab_size=280).save_pretrained(other)
    shutil.copy(other / "tokenizer.json", hf_gpt2_dir / "tokenizer.json")
    with pytest.raises(CheckpointError, match="has 280 tokens but the model's vocab_size is 300"):
        read_pretrained(hf_gpt2_dir)


def test_gpt2_variants_gptlab_cannot_compute_are_refused(tmp_path):
    path = save_hf_gpt2(tmp_path / "gpt2", layer_norm_epsilon=1e-6, scale_attn_by_inverse_layer_idx=True)
    with pytest.raises(CheckpointError, match="layer_norm_epsilon=1e-06 cannot be imported"):
        read_pretrained(path)


def test_weights_that_do_not_match_the_config(hf_gpt2_dir):
    config = json.loads((hf_gpt2_dir / "config.json").read_text())
    (hf_gpt2_dir / "config.json").write_text(json.dumps({**config, "n_layer": 3}))
    with pytest.raises(CheckpointError, match=r"does not match its config.json: weight h\.2\.ln_1\.weight is missing"):
        load_pretrained_model(hf_gpt2_dir)
