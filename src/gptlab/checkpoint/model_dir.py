"""A self-contained model directory, as litgpt does it: the model rebuilds from it.

    artifacts/model/
      model.safetensors   weights (safetensors: loading never unpickles anything)
      config.json         {"format_version", "model": the model config (any kind), "lineage": {...}, "training": {...}}
      tokenizer.json      the tokenizer the model was trained with

The whole directory is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gptlab.errors import CheckpointError
from gptlab.io import atomic_path, sha256_file

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TOKENIZER = "tokenizer.json"


@dataclass
class LoadedModel:
    model: Any  # a gptlab.model model of any kind (GPT, RecurrentLM, ...), in eval mode
    tokenizer: Any  # gptlab.tokenizer.Tokenizer
    info: dict  # the parsed config.json
    path: Path


def save_model_dir(model: Any, tokenizer_path: str | Path, out_dir: str | Path, extra: dict | None = None) -> Path:
    """Write ``model`` (any kind) with its config and tokenizer to ``out_dir``."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    # safetensors refuses tensors that share storage; a tied head is rebuilt on load.
    return write_model_dir(out_dir, model.config, _drop_shared(state), tokenizer_path, extra)


def write_model_dir(out_dir: str | Path, config: Any, state: dict[str, torch.Tensor], tokenizer_path: str | Path,
                    extra: dict | None = None, weights: str = WEIGHTS, tag: str = str(FORMAT_VERSION)) -> Path:  # fmt: skip
    """A model directory, whole or not at all: ``weights`` (``state``, safetensors with
    ``tag`` in its metadata), config.json (``config``, ``extra``, the tokenizer's sha256)
    and the tokenizer."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    info = {"format_version": FORMAT_VERSION, "model": config.to_dict(), **(extra or {})}
    info.setdefault("lineage", {})["tokenizer_sha256"] = sha256_file(tokenizer_path)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        save_file(state, str(tmp / weights), metadata={"format": "pt", "gptlab": tag})
        (tmp / CONFIG).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        shutil.copyfile(tokenizer_path, tmp / TOKENIZER)
    return out_dir


def _drop_shared(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    seen: dict[int, str] = {}
    out = {}
    for k, v in state.items():
        ptr = v.untyped_storage().data_ptr()
        if ptr in seen and v.numel() > 0:
            continue
        seen[ptr] = k
        out[k] = v
    return out


def read_model_info(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"model directory not found: {path} (train one first: dvc repro train)")
    cfg_file = path / CONFIG
    try:
        info = json.loads(cfg_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} is not a gptlab model directory: {CONFIG} is missing") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{cfg_file} is corrupt ({exc})") from None
    if not isinstance(info, dict) or "model" not in info:
        raise CheckpointError(f"{cfg_file} has no model config")
    return info


def load_model_dir(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the model and tokenizer from a model directory (no pickle involved)."""
    path = Path(path)
    info = read_model_info(path)
    if (info.get("lora") or {}).get("model_dir") == "adapter":
        # A LoRA fine-tune written as its adapter alone (train.lora.model_dir=adapter): the
        # base model it names, refused if its weights changed, with the adapter merged in.
        from gptlab.checkpoint.adapter_dir import load_adapter_model

        model = load_adapter_model(path, info)
    else:
        model = _load_weights(path, info)
    tokenizer = _checked_tokenizer(path, info, model.config.vocab_size)
    model.to(device).eval()
    return LoadedModel(model=model, tokenizer=tokenizer, info=info, path=path)


def _load_weights(path: Path, info: dict) -> Any:
    """The model of ``info``'s config with the directory's weights (any kind)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from gptlab.model import build_model, config_from_dict
    from gptlab.model.family import clean_state_dict

    config = config_from_dict(info["model"])  # any kind; a dict without `kind` is a GPT's
    weights = path / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{path} has no {WEIGHTS}")
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights} is not a valid safetensors file ({exc}); it was not loaded") from None
    model = build_model(config)
    try:
        missing, unexpected = model.load_state_dict(clean_state_dict(state), strict=False)
    except RuntimeError:  # a tensor of another shape: the weights of another model
        raise CheckpointError(f"{weights} does not match its config ({config.describe()}): tensor shapes differ") from None
    # A tied head is saved once; any other gap means the weights belong to another model.
    missing = [k for k in missing if not (getattr(config, "tie_weights", False) and k.endswith("lm_head.weight"))]
    if missing or unexpected:
        raise CheckpointError(
            f"{weights} does not match its config: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    return model


def _checked_tokenizer(path: Path, info: dict, vocab_size: int) -> Any:
    from gptlab.tokenizer import load_tokenizer

    tok_path = path / TOKENIZER
    tokenizer = load_tokenizer(tok_path)
    expected = info.get("lineage", {}).get("tokenizer_sha256")
    if expected and sha256_file(tok_path) != expected:
        raise CheckpointError(f"{tok_path} is not the tokenizer this model was trained with (sha256 differs)")
    if tokenizer.vocab_size != vocab_size:
        raise CheckpointError(
            f"tokenizer vocabulary ({tokenizer.vocab_size}) does not match the model's ({vocab_size})"
        )
    return tokenizer
