"""Pretrained weights from outside: a Hugging Face directory -> gptlab's config and weights.

Imported: GPT-2 (``config.json`` with ``model_type: gpt2`` + ``model.safetensors``), and
GPT-NeoX when it is gptlab's rope model (what :mod:`gptlab.hf.export` writes). Refused,
each with one line: a missing directory, no ``config.json``, no weights, weights only as a
pickle (``pytorch_model.bin``: unpickling runs whatever code the file holds), another
``model_type``, and a ``tokenizer.json`` whose vocabulary is not the embedding's.

:func:`read_pretrained` / :func:`load_pretrained_state` take either a gptlab model
directory or a Hugging Face one: that is what ``train.init_from`` accepts.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from gptlab.errors import CheckpointError
from gptlab.model import GPT, GPTConfig

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
# Checkpoint files that are pickles: never loaded.
PICKLES = ("pytorch_model.bin", "model.bin", "model.pt", "model.pth", "model.ckpt")
SHARD_INDEX = "model.safetensors.index.json"


@dataclass(frozen=True)
class Pretrained:
    """A pretrained model directory, checked, its weights not yet read."""

    path: Path
    kind: str  # "gptlab" | "gpt2" | "gpt_neox"
    config: GPTConfig
    weights: Path


def read_pretrained(path: str | Path) -> Pretrained:
    """Check a gptlab or Hugging Face model directory and read its config."""
    from gptlab.hf import gpt2, neox

    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"pretrained model directory not found: {path}")
    info = _read_config(path)
    weights = _weights_file(path)
    if "model_type" not in info and "model" in info:
        return Pretrained(path, "gptlab", GPTConfig.from_dict(info["model"]), weights)
    model_type = info.get("model_type")
    where = str(path / CONFIG)
    if model_type == gpt2.MODEL_TYPE:
        config = gpt2.config_from_gpt2(info, where)
    elif model_type == neox.MODEL_TYPE:
        config = neox.config_from_neox(info, where)
    else:
        raise CheckpointError(
            f"{where}: model_type {model_type!r} cannot be imported; gptlab imports {gpt2.MODEL_TYPE} "
            f"(and the {neox.MODEL_TYPE} models it exports)"
        )
    _check_tokenizer_vocab(path, config.vocab_size)
    return Pretrained(path, str(model_type), config, weights)


def _read_config(path: Path) -> dict[str, Any]:
    file = path / CONFIG
    if not file.is_file():
        raise CheckpointError(f"{path} has no {CONFIG}: it is not a gptlab or Hugging Face model directory")
    try:
        info = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{file} is corrupt ({type(exc).__name__}: {exc})") from None
    if not isinstance(info, dict) or ("model_type" not in info and "model" not in info):
        raise CheckpointError(f"{file} has neither a Hugging Face model_type nor a gptlab model config")
    return info


def _weights_file(path: Path) -> Path:
    weights = path / WEIGHTS
    if weights.is_file():
        return weights
    pickles = [name for name in PICKLES if (path / name).is_file()]
    if pickles:
        raise CheckpointError(
            f"{path} holds its weights only as {pickles[0]}, a pickle, which can run arbitrary code when "
            f"loaded: gptlab does not load it. Convert it to {WEIGHTS} where you trust it "
            "(transformers: model.save_pretrained(dir, safe_serialization=True))"
        )
    if (path / SHARD_INDEX).is_file():
        raise CheckpointError(f"{path} holds sharded weights ({SHARD_INDEX}); gptlab reads a single {WEIGHTS}")
    raise CheckpointError(f"{path} has no {WEIGHTS}: it holds no weights")


def _check_tokenizer_vocab(path: Path, vocab_size: int) -> None:
    if not (path / TOKENIZER).is_file():
        return
    from gptlab.tokenizer.pretrained import load_pretrained_tokenizer

    tokens = load_pretrained_tokenizer(path / TOKENIZER).vocab_size
    if tokens != vocab_size:
        raise CheckpointError(
            f"{path / TOKENIZER} has {tokens:,} tokens but the model's vocab_size is {vocab_size:,}: "
            "the tokenizer does not belong to these weights"
        )


def load_pretrained_state(pre: Pretrained) -> dict[str, Tensor]:
    """The weights of ``pre`` under gptlab's names, float32 (nothing is unpickled)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from gptlab.hf import gpt2, neox

    if pre.kind == "gptlab":
        from gptlab.checkpoint import load_model_dir

        return load_model_dir(pre.path).model.state_dict()
    try:
        state = load_file(str(pre.weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{pre.weights} is not a valid safetensors file ({exc}); it was not loaded") from None
    where = str(pre.weights)
    if pre.kind == gpt2.MODEL_TYPE:
        return gpt2.state_from_gpt2(state, pre.config, where)
    return neox.state_from_neox(state, pre.config, where)


def load_pretrained_model(path: str | Path) -> GPT:
    """The gptlab GPT of a pretrained directory, in eval mode."""
    pre = read_pretrained(path)
    model = GPT(pre.config)
    load_weights(model, load_pretrained_state(pre), pre.weights)
    return model.eval()


def load_weights(model: GPT, state: dict[str, Tensor], source: Path) -> None:
    """Copy ``state`` into ``model``: every weight, each of the right shape."""
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a weight of another shape
        detail = next((line.strip() for line in str(exc).splitlines() if "size mismatch" in line), str(exc))
        raise CheckpointError(f"{source} does not fit the model: {detail}") from None
    missing = [k for k in missing if not (model.config.tie_weights and k == "lm_head.weight")]
    if missing or unexpected:
        raise CheckpointError(f"{source} does not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]}")


def import_hf_dir(path: str | Path, out_dir: str | Path) -> Path:
    """A Hugging Face directory (with its ``tokenizer.json``) -> a gptlab model directory."""
    from gptlab.checkpoint import save_model_dir
    from gptlab.tokenizer.pretrained import load_pretrained_tokenizer

    path = Path(path)
    model = load_pretrained_model(path)
    tokenizer = load_pretrained_tokenizer(path)
    with tempfile.TemporaryDirectory() as tmp:
        tok_file = Path(tmp) / TOKENIZER
        tokenizer.save(tok_file)
        return save_model_dir(model, tok_file, out_dir, {"imported_from": str(path)})
