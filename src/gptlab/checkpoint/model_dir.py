"""A self-contained model directory, as litgpt does it (the model rebuilds from it), written whole or not at all.

    artifacts/model/
      model.safetensors   weights (safetensors: loading never unpickles anything)
      config.json         {"format_version", "model": the model config (any kind), "lineage": {...}, "training": {...}}
      tokenizer.json      the tokenizer the model was trained with
      peft/               a LoRA adapter directory's: the adapter in peft's format (see save_adapter_dir)
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gptlab.checkpoint.adapter_dir import ADAPTER_WEIGHTS, load_adapter_model
from gptlab.checkpoint.pretrained import CONFIG, TOKENIZER, WEIGHTS, check_tokenizer_sha, load_weights
from gptlab.errors import CheckpointError, ConfigError
from gptlab.io import atomic_path, sha256_file
from gptlab.model import build_model, config_from_dict

FORMAT_VERSION = 1
PEFT_DIR = "peft"  # a LoRA adapter directory's adapter in peft's format
log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    model: Any  # a gptlab.model model of any kind (GPT, RecurrentLM, ...), in eval mode
    tokenizer: Any  # gptlab.tokenizer.Tokenizer
    info: dict  # the parsed config.json
    path: Path


def save_model_dir(model: Any, tokenizer_path: str | Path, out_dir: str | Path, extra: dict | None = None,
                   adapted: Any = None, base: str | None = None) -> Path:  # fmt: skip
    """Write ``model`` (any kind) with its config and tokenizer to ``out_dir``; ``adapted``: the
    LoRA model (on ``base``) it was merged from, whose adapter ``peft/`` keeps in peft's format."""
    also = None if adapted is None else _peft_writer(adapted, extra["lora"], base, out_dir)
    return write_model_dir(out_dir, model.config, model, tokenizer_path, extra, also=also)


def save_adapter_dir(model: Any, tokenizer_path: str | Path, out_dir: str | Path, extra: dict) -> Path:
    """Write a LoRA model's adapter alone (:mod:`gptlab.checkpoint.adapter_dir`): ``extra``'s
    lineage names the base's path and sha256; ``peft/`` holds it in peft's format too, where it maps."""
    from gptlab.model.lora import adapter_state

    peft = _peft_writer(model, extra["lora"], extra["lineage"]["init_from"], out_dir)
    return write_model_dir(out_dir, model.config, adapter_state(model), tokenizer_path, extra,
                           weights=ADAPTER_WEIGHTS, tag="lora", also=peft)  # fmt: skip


def _peft_writer(model: Any, lora: dict, base: str | None, out_dir: str | Path) -> Callable[[Path], None]:
    def peft(tmp: Path) -> None:
        from gptlab.checkpoint.peft_adapter import write_peft_adapter

        try:
            write_peft_adapter(model, lora, base, tmp / PEFT_DIR)
        except ConfigError as exc:  # e.g. an RMSNorm model: no Hugging Face base, no peft adapter
            log.info("%s has no peft adapter: %s", out_dir, exc)

    return peft


def write_model_dir(out_dir: str | Path, config: Any, tensors: nn.Module | dict[str, torch.Tensor],
                    tokenizer_path: str | Path, extra: dict | None = None, weights: str = WEIGHTS,
                    tag: str = str(FORMAT_VERSION), also: Callable[[Path], None] | None = None) -> Path:  # fmt: skip
    """A model directory, whole or not at all: ``weights`` (a model's or a state dict, ``tag`` in its metadata),
    config.json (``config``, ``extra``, the tokenizer's sha256), the tokenizer and what ``also`` writes in it."""
    from safetensors.torch import save_file, save_model

    out_dir = Path(out_dir)
    info = {"format_version": FORMAT_VERSION, "model": config.to_dict(), **(extra or {})}
    info.setdefault("lineage", {})["tokenizer_sha256"] = sha256_file(tokenizer_path)
    metadata = {"format": "pt", "gptlab": tag}
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        if isinstance(tensors, nn.Module):  # save_model stores a tensor shared by several names once
            save_model(tensors, str(tmp / weights), metadata=metadata)
        else:
            save_file(tensors, str(tmp / weights), metadata=metadata)
        (tmp / CONFIG).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        shutil.copyfile(tokenizer_path, tmp / TOKENIZER)
        if also is not None:
            also(tmp)
    return out_dir


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
        model = load_adapter_model(path, info)
    else:  # any kind; a dict without `kind` is a GPT's
        model = load_weights(build_model(config_from_dict(info["model"])), path / WEIGHTS)
    tokenizer = _checked_tokenizer(path, info, model.config.vocab_size)
    model.to(device).eval()
    return LoadedModel(model=model, tokenizer=tokenizer, info=info, path=path)


def _checked_tokenizer(path: Path, info: dict, vocab_size: int) -> Any:
    from gptlab.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(path / TOKENIZER)
    check_tokenizer_sha(path, info)
    if tokenizer.vocab_size != vocab_size:
        raise CheckpointError(
            f"tokenizer vocabulary ({tokenizer.vocab_size}) does not match the model's ({vocab_size})"
        )
    return tokenizer
