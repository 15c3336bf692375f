"""gptlab's greedy and beam search and transformers' ``generate`` pick the same tokens on the same weights.

Both sides decode to a fixed length inside the context (no end-of-text stop: its
bookkeeping differs between the two beam searches, the choice of tokens does not).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gptlab.generation import beam_search, greedy_decode
from gptlab.hf.export import export_hf_dir
from gptlab.hf.import_hf import load_pretrained_model
from gptlab.model import IncrementalLM

PROMPT = "ROMEO:\nBut soft"


def _hf_generate(path: Path, prompt: list[int], new: int, num_beams: int) -> list[int]:
    from transformers import AutoModelForCausalLM, GenerationConfig

    model = AutoModelForCausalLM.from_pretrained(path).eval()
    settings = GenerationConfig(
        do_sample=False, num_beams=num_beams, length_penalty=1.0, max_new_tokens=new, min_new_tokens=new,
        eos_token_id=None, pad_token_id=0, early_stopping=False,
    )  # fmt: skip
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), generation_config=settings)
    return out[0, len(prompt) :].tolist()


def _gptlab_generate(model, prompt: list[int], new: int, num_beams: int) -> list[int]:
    lm = IncrementalLM(model)
    ids = torch.tensor(prompt)
    if num_beams == 1:
        return greedy_decode(lm, ids, max_new_tokens=new)[0].tokens
    return list(beam_search(lm, ids, num_beams=num_beams, max_new_tokens=new, length_penalty=1.0)[0].tokens)


@pytest.mark.parametrize("num_beams", [1, 4], ids=["greedy", "beam4"])
@pytest.mark.parametrize("pos", ["learned", "sinusoidal", "rope"])
def test_exported_model_decodes_like_gptlab(make_model_dir, char_tokenizer, tmp_path, pos, num_beams):
    from gptlab.checkpoint import load_model_dir

    model_dir = make_model_dir(char_tokenizer, pos_encoding=pos, context_size=32, scale=0.3)
    out = export_hf_dir(model_dir, tmp_path / "hf")
    model = load_model_dir(model_dir).model
    prompt = char_tokenizer.encode(PROMPT)
    new = model.config.context_size - len(prompt)  # up to the end of the context
    ours = _gptlab_generate(model, prompt, new, num_beams)
    assert len(ours) == new
    assert _hf_generate(out, prompt, new, num_beams) == ours


@pytest.mark.parametrize("num_beams", [1, 4], ids=["greedy", "beam4"])
def test_imported_gpt2_decodes_like_transformers(hf_gpt2_dir, num_beams):
    model = load_pretrained_model(hf_gpt2_dir)
    prompt = [5, 17, 42, 99]
    new = model.config.context_size - len(prompt)
    assert _gptlab_generate(model, prompt, new, num_beams) == _hf_generate(hf_gpt2_dir, prompt, new, num_beams)
