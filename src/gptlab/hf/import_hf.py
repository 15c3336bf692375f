"""A Hugging Face model directory -> a gptlab GPT, or a gptlab model directory
(:mod:`gptlab.checkpoint.pretrained` reads it)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from gptlab.checkpoint import save_model_dir
from gptlab.checkpoint.pretrained import TOKENIZER, load_pretrained, read_pretrained
from gptlab.model import GPT


def load_pretrained_model(path: str | Path) -> GPT:
    """The gptlab GPT of a pretrained directory, in eval mode."""
    pre = read_pretrained(path)
    return load_pretrained(GPT(pre.config), pre).eval()


def import_hf_dir(path: str | Path, out_dir: str | Path) -> Path:
    """A Hugging Face directory (with its ``tokenizer.json``) -> a gptlab model directory."""
    from gptlab.tokenizer.pretrained import load_pretrained_tokenizer

    path = Path(path)
    model = load_pretrained_model(path)
    tokenizer = load_pretrained_tokenizer(path)
    with tempfile.TemporaryDirectory() as tmp:
        tok_file = Path(tmp) / TOKENIZER
        tokenizer.save(tok_file)
        return save_model_dir(model, tok_file, out_dir, {"imported_from": str(path)})
