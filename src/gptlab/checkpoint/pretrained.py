"""A pretrained model's directory, gptlab's or Hugging Face's (GPT-2, and GPT-NeoX as gptlab
exports it): what ``train.init_from``, an adapter directory's base and the HF import read.
Weights only as a pickle are refused (unpickling runs whatever code the file holds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from gptlab.errors import CheckpointError
from gptlab.io import sha256_file
from gptlab.model import GPTConfig

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
    from gptlab.checkpoint import hf_gpt2, hf_neox

    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"pretrained model directory not found: {path}")
    info = _read_config(path)
    weights = _weights_file(path)
    if "model_type" not in info and "model" in info:
        check_tokenizer_sha(path, info)
        return Pretrained(path, "gptlab", GPTConfig.from_dict(info["model"]), weights)
    model_type = info.get("model_type")
    where = str(path / CONFIG)
    if model_type == hf_gpt2.MODEL_TYPE:
        config = hf_gpt2.config_from_gpt2(info, where)
    elif model_type == hf_neox.MODEL_TYPE:
        config = hf_neox.config_from_neox(info, where)
    else:
        raise CheckpointError(
            f"{where}: model_type {model_type!r} cannot be imported; gptlab imports {hf_gpt2.MODEL_TYPE} "
            f"(and the {hf_neox.MODEL_TYPE} models it exports)"
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


def check_tokenizer_sha(path: Path, info: dict) -> None:
    """Refuse a gptlab directory whose tokenizer.json is not the one its model was trained with."""
    tok_path, expected = path / TOKENIZER, (info.get("lineage") or {}).get("tokenizer_sha256")
    if expected and tok_path.is_file() and sha256_file(tok_path) != expected:
        raise CheckpointError(f"{tok_path} is not the tokenizer this model was trained with (sha256 differs)")


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


def load_pretrained(model: nn.Module, pre: Pretrained) -> nn.Module:
    """``model`` (a GPT of ``pre``'s architecture) with ``pre``'s weights (nothing is unpickled)."""
    if pre.kind == "gptlab":
        return load_weights(model, pre.weights)
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from gptlab.checkpoint import hf_gpt2, hf_neox

    try:
        state = load_file(str(pre.weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{pre.weights} is not a valid safetensors file ({exc}); it was not loaded") from None
    where = str(pre.weights)
    convert = hf_gpt2.state_from_gpt2 if pre.kind == hf_gpt2.MODEL_TYPE else hf_neox.state_from_neox
    state = convert(state, pre.config, where)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a weight of another shape
        detail = next((line.strip() for line in str(exc).splitlines() if "size mismatch" in line), str(exc))
        raise CheckpointError(f"{where} does not fit the model: {detail}") from None
    _refuse_gaps(f"{where} does not fit the model", missing, unexpected)
    return model


def load_weights(model: nn.Module, weights: Path) -> nn.Module:
    """``model`` (any kind) with all the weights of a gptlab ``model.safetensors`` (``load_model``: shared tensors)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    if not weights.is_file():
        raise CheckpointError(f"{weights.parent} has no {weights.name}")
    try:
        missing, unexpected = load_model(model, weights, strict=False, device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights} is not a valid safetensors file ({exc}); it was not loaded") from None
    except RuntimeError:  # a tensor of another shape: the weights of another model
        raise CheckpointError(
            f"{weights} does not match its config ({model.config.describe()}): tensor shapes differ"
        ) from None
    _refuse_gaps(f"{weights} does not match its config", missing, unexpected)
    return model


def _refuse_gaps(what: str, missing: Any, unexpected: Any) -> None:
    if missing or unexpected:
        raise CheckpointError(f"{what}: missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}")
