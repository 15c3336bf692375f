"""The README's Hugging Face example, as written, on an export with the default model's context."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import torch

from gptlab.hf.export import export_hf_dir
from tests.helpers import REPO, conf_values
from tests.hf.conftest import random_model


def readme_example() -> str:
    """The Python code of the README's ``python -c '...pipeline...'`` line."""
    (code,) = re.findall(r"^python -c '(from transformers import pipeline;.*)'$", (REPO / "README.md").read_text(), re.M)
    return code


def never_ending_model_dir(tokenizer, path: Path) -> Path:
    """A model with the default model's context that never ends its text: whatever the input,
    its logits are those of one letter (the final norm's output is a constant), as a trained
    model goes on for as many tokens as asked; a random one soon says end-of-text."""
    from gptlab.checkpoint import save_model_dir

    model = random_model(tokenizer.vocab_size, context_size=conf_values("model")["context_size"])
    letter = tokenizer.encode("e")[0]
    with torch.no_grad():
        model.norm_f.weight.zero_()
        model.norm_f.bias.copy_(100 * model.tok_emb.weight[letter])  # tied: its own embedding, and sharp: sampled too
        assert int((model.tok_emb.weight @ model.norm_f.bias).argmax()) == letter
    tokenizer.save(path.parent / "tokenizer.json")
    return save_model_dir(model, path.parent / "tokenizer.json", path)


def test_the_readme_pipeline_example_runs_on_the_default_models_context(char_tokenizer, tmp_path, capsys, monkeypatch):
    export_hf_dir(never_ending_model_dir(char_tokenizer, tmp_path / "model"), tmp_path / "artifacts/hf")
    monkeypatch.chdir(tmp_path)  # the example's model="artifacts/hf" is relative
    script = tmp_path / "example.py"
    script.write_text(readme_example(), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", [str(script)])
    runpy.run_path(str(script), run_name="__main__")
    printed = capsys.readouterr().out
    assert printed.startswith("ROMEO:eee") and printed == printed.rstrip("\n") + "\n"
    assert len(printed.rstrip("\n")) == len("ROMEO:") + int(re.search(r"max_new_tokens=(\d+)", readme_example())[1])
