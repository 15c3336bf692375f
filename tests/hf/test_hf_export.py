"""Exported directories load in transformers and compute gptlab's logits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gptlab.errors import ConfigError
from gptlab.hf.export import export_hf_dir

TOLERANCE = 1e-4  # max abs logit difference, float32

VARIANTS = [
    # (pos_encoding, bias, tie_weights, activation) -> the architecture it exports to
    pytest.param("learned", True, True, "gelu", "GPT2LMHeadModel", id="learned"),
    pytest.param("learned", False, False, "relu", "GPT2LMHeadModel", id="learned-nobias-untied-relu"),
    pytest.param("sinusoidal", True, True, "gelu_tanh", "GPT2LMHeadModel", id="sinusoidal"),
    pytest.param("sinusoidal", False, False, "gelu", "GPT2LMHeadModel", id="sinusoidal-nobias-untied"),
    pytest.param("rope", True, True, "gelu", "GPTNeoXForCausalLM", id="rope"),
    pytest.param("rope", False, False, "gelu_tanh", "GPTNeoXForCausalLM", id="rope-nobias-untied"),
]


def _logits_diff(model_dir: Path, out: Path, vocab_size: int) -> float:
    from transformers import AutoModelForCausalLM

    from gptlab.checkpoint import load_model_dir

    ours = load_model_dir(model_dir).model
    theirs = AutoModelForCausalLM.from_pretrained(out).eval()
    idx = torch.randint(0, vocab_size, (3, ours.config.context_size), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = ours(idx)[0]
        b = theirs(idx).logits
    assert a.shape == b.shape
    return float((a - b).abs().max())


@pytest.mark.parametrize(("pos", "bias", "tie", "activation", "architecture"), VARIANTS)
def test_exported_model_gives_gptlabs_logits(make_model_dir, char_tokenizer, tmp_path, pos, bias, tie, activation,
                                             architecture):  # fmt: skip
    model_dir = make_model_dir(
        char_tokenizer, pos_encoding=pos, bias=bias, tie_weights=tie, activation=activation, rope_base=500.0
    )
    out = export_hf_dir(model_dir, tmp_path / "hf")
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == [architecture]
    assert _logits_diff(model_dir, out, char_tokenizer.vocab_size) <= TOLERANCE


def test_export_writes_the_files_transformers_reads(make_model_dir, char_tokenizer, tmp_path):
    out = export_hf_dir(make_model_dir(char_tokenizer), tmp_path / "hf")
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json",
    ]  # fmt: skip
    weights = load_file(out / "model.safetensors")
    assert weights["transformer.h.0.attn.c_attn.weight"].shape == (16, 48)  # Conv1D: (in, out)
    assert "lm_head.weight" not in weights  # tied: the embedding is the head
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "gpt2" and config["eos_token_id"] == char_tokenizer.eot_id


def test_bias_free_model_exports_zero_biases(make_model_dir, char_tokenizer, tmp_path):
    out = export_hf_dir(make_model_dir(char_tokenizer, bias=False), tmp_path / "hf")
    weights = load_file(out / "model.safetensors")
    biases = [k for k in weights if k.endswith(".bias")]
    assert biases and all(not weights[k].any() for k in biases)


def test_rope_exports_sequential_full_rotary_gpt_neox(make_model_dir, char_tokenizer, tmp_path):
    out = export_hf_dir(make_model_dir(char_tokenizer, pos_encoding="rope", rope_base=500.0), tmp_path / "hf")
    config = json.loads((out / "config.json").read_text())
    assert config["use_parallel_residual"] is False
    assert config["rotary_pct"] == 1.0 and config["rope_parameters"]["partial_rotary_factor"] == 1.0
    assert config["rotary_emb_base"] == 500.0


def test_rmsnorm_is_refused_with_one_clear_error(make_model_dir, char_tokenizer, tmp_path):
    model_dir = make_model_dir(char_tokenizer, norm="rmsnorm")
    with pytest.raises(ConfigError, match=r"cannot be exported.*model.norm=rmsnorm.*LayerNorm"):
        export_hf_dir(model_dir, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


def test_export_needs_no_transformers(make_model_dir, char_tokenizer, tmp_path, subprocess_env):
    import subprocess
    import sys

    model_dir = make_model_dir(char_tokenizer)
    code = (
        "import sys; sys.modules['transformers'] = None\n"  # any import of it now fails
        "from gptlab.hf.export import export_hf_dir\n"
        f"export_hf_dir({str(model_dir)!r}, {str(tmp_path / 'hf')!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=subprocess_env)
    assert (tmp_path / "hf" / "model.safetensors").is_file()


def test_pipeline_generates_from_the_export(make_model_dir, char_tokenizer, tmp_path):
    from transformers import pipeline

    out = export_hf_dir(make_model_dir(char_tokenizer), tmp_path / "hf")
    generate = pipeline("text-generation", model=str(out), device="cpu")
    result = generate("ROMEO:", max_new_tokens=5, do_sample=False)
    text = result[0]["generated_text"]
    assert text.startswith("ROMEO:") and len(text) > len("ROMEO:")


def test_gpt_neox_rotates_channel_pairs_as_gptlab_does():
    # The finding the NeoX export rests on: both rotate (i, i + hs/2) pairs ("rotate half"),
    # with the same frequencies, so q and k need no channel permutation.
    from transformers.models.gpt_neox.modeling_gpt_neox import apply_rotary_pos_emb

    from gptlab.model.positional import RotaryEmbedding, apply_rotary

    hs, T = 8, 5
    q = torch.randn(1, 2, T, hs, generator=torch.Generator().manual_seed(0))
    cos, sin = RotaryEmbedding(hs, T, base=10000.0)(0, T)  # (T, hs/2) each
    theirs, _ = apply_rotary_pos_emb(q, q, torch.cat((cos, cos), -1)[None], torch.cat((sin, sin), -1)[None])
    assert torch.allclose(apply_rotary(q, cos, sin), theirs, atol=1e-6)
