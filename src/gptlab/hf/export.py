"""A gptlab model directory -> a Hugging Face directory that ``transformers`` loads as is.

    out_dir/
      config.json              GPT2LMHeadModel or GPTNeoXForCausalLM config
      model.safetensors        the weights under Hugging Face's names
      tokenizer.json           the tokenizer (Hugging Face tokenizers format)
      tokenizer_config.json    PreTrainedTokenizerFast, special-token roles
      special_tokens_map.json
      adapter/                 a LoRA adapter directory's adapter, in peft's format, on base/ or train.init_from

GPT-2 for learned or sinusoidal positions, GPT-NeoX for rotary; what neither can express
(RMSNorm, a model that is not a GPT) is one ConfigError, never a model that computes something else.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gptlab.checkpoint import load_model_dir
from gptlab.checkpoint.adapter_dir import load_adapter_model
from gptlab.checkpoint.hf_state import unmappable
from gptlab.checkpoint.peft_adapter import write_peft_adapter
from gptlab.checkpoint.pretrained import CONFIG, WEIGHTS, read_pretrained
from gptlab.errors import ConfigError
from gptlab.io import atomic_path
from gptlab.model import GPT
from gptlab.tokenizer.base import Tokenizer
from gptlab.tokenizer.config import PAD_TOKEN

log = logging.getLogger(__name__)


def hf_model_files(model: GPT, tokenizer: Tokenizer) -> tuple[dict, dict]:
    """(config.json object, state dict) of the Hugging Face model equal to ``model``."""
    from gptlab.checkpoint.hf_gpt2 import gpt2_config, gpt2_state
    from gptlab.checkpoint.hf_neox import neox_config, neox_state

    cfg = model.config
    problems = unmappable(cfg)
    if problems:
        raise ConfigError(f"this model has no Hugging Face equivalent: {'; '.join(problems)}")
    token_ids = {
        "bos_token_id": tokenizer.eot_id,
        "eos_token_id": tokenizer.eot_id,
        "pad_token_id": tokenizer.special_tokens.get(PAD_TOKEN),
    }
    if cfg.pos_encoding == "rope":
        return neox_config(cfg, token_ids), neox_state(model)
    return gpt2_config(cfg, token_ids), gpt2_state(model)


def write_hf_dir(model: GPT, tokenizer: Tokenizer, out_dir: str | Path,
                 also: Callable[[Path], Any] | None = None) -> Path:  # fmt: skip
    """Write the Hugging Face directory of ``model`` and ``tokenizer`` (and what ``also`` writes in it)."""
    from safetensors.torch import save_file

    from gptlab.hf.tokenizer import tokenizer_files

    config, state = hf_model_files(model, tokenizer)
    files = {CONFIG: json.dumps(config, indent=2, sort_keys=True) + "\n"}
    files |= tokenizer_files(tokenizer, model.config.context_size)
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt"})
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")
        if also is not None:
            also(tmp)
    return out_dir


def _peft_files(model_dir: Path, loaded: Any, out_dir: Path, tmp: Path) -> None:
    """An adapter directory's ``adapter/`` in peft's format, on train.init_from or (a gptlab one) on ``base/``."""
    base = loaded.info["lineage"]["init_from"]
    if read_pretrained(base).kind == "gptlab":
        write_hf_dir(load_model_dir(base).model, loaded.tokenizer, tmp / "base")
        base = str(out_dir / "base")
    adapted = load_adapter_model(model_dir, loaded.info, merge=False)  # the base with peft's layers, as trained
    write_peft_adapter(adapted, loaded.info["lora"], base, tmp / "adapter")


def export_hf_dir(model_dir: str | Path, out_dir: str | Path) -> Path:
    """Export the gptlab model directory ``model_dir`` to ``out_dir`` (and a LoRA adapter's, :func:`_peft_files`)."""
    loaded = load_model_dir(model_dir)
    problems = unmappable(loaded.model.config)
    if problems:
        raise ConfigError(f"{model_dir} cannot be exported to Hugging Face format: {'; '.join(problems)}")
    adapter = (loaded.info.get("lora") or {}).get("model_dir") == "adapter"
    also = (lambda tmp: _peft_files(Path(model_dir), loaded, Path(out_dir), tmp)) if adapter else None
    out = write_hf_dir(loaded.model, loaded.tokenizer, out_dir, also)
    arch = json.loads((out / CONFIG).read_text(encoding="utf-8"))["architectures"][0]
    log.info("exported %s to %s (%s)", model_dir, out, arch)
    return out
