"""A GPT's LoRA adapter in peft's own format, on the model's Hugging Face export: both ways.

    adapter/
      adapter_config.json        peft's LoraConfig, written by peft (r, lora_alpha, target_modules, ...)
      adapter_model.safetensors  lora_A (r, in) and lora_B (out, r) under the Hugging Face names

peft keeps A and B in nn.Linear's shapes on GPT-2's Conv1D (``fan_in_fan_out``); on GPT-NeoX B's qkv rows go per head.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from torch import Tensor

from gptlab.checkpoint import hf_gpt2, hf_neox
from gptlab.checkpoint.hf_state import unmappable
from gptlab.errors import ConfigError
from gptlab.model import GPTConfig

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"
PEFT_PREFIX = "base_model.model."  # peft's PeftModel around the Hugging Face model
# A gptlab block's module -> (GPT-2's, GPT-NeoX's). Qualified: GPT-2 has a c_proj in both halves.
MODULES = {m: (hf_gpt2.BLOCK[m], hf_neox.BLOCK[m]) for m in hf_gpt2.CONV1D}
# adapter_config.json settings that change what the weights compute: gptlab reads none of them.
NOT_PLAIN = ("bias", "use_dora", "use_rslora", "rank_pattern", "alpha_pattern", "lora_bias", "modules_to_save",
             "use_qalora", "layer_replication", "target_parameters", "trainable_token_indices", "use_bdlora",
             "alora_invocation_tokens", "velora_config", "monteclora_config", "arrow_config", "kasa_config")


def _family(config: GPTConfig) -> tuple[int, str]:
    """(GPT-2 0 | GPT-NeoX 1, the blocks' prefix) of ``config``'s Hugging Face model (as export picks it)."""
    return (1, f"{hf_neox.PREFIX}layers.") if config.pos_encoding == "rope" else (0, f"{hf_gpt2.PREFIX}h.")


def to_peft(state: dict[str, Tensor], config: GPTConfig) -> tuple[dict[str, Tensor], list[str]]:
    """gptlab's adapter weights (``blocks.0.attn.qkv.lora_A.weight``) -> (peft's on the export, target_modules)."""
    if unmappable(config):
        raise ConfigError(f"no Hugging Face equivalent, so no peft adapter: {'; '.join(unmappable(config))}")
    family, blocks = _family(config)
    out, targets = {}, set()
    for key, value in state.items():
        match = re.fullmatch(r"blocks\.(\d+)\.(.+)\.(lora_[AB])\.weight", key)
        if match is None or match[2] not in MODULES:
            raise ConfigError(f"the adapter on {key.split('.lora_')[0]} has no peft equivalent: peft's adapters "
                              f"are on a GPT-2 or GPT-NeoX export's {', '.join(MODULES)}")  # fmt: skip
        i, module, part = match.groups()
        if family == 1 and module == "attn.qkv" and part == "lora_B":
            value = hf_neox.per_head(value, config.n_head)  # (3C, r): rows in GPT-NeoX's order
        out[f"{PEFT_PREFIX}{blocks}{i}.{MODULES[module][family]}.{part}.weight"] = value.contiguous()
        targets.add(MODULES[module][family])
    return out, sorted(targets)


def write_peft_adapter(model: Any, lora: dict, base: str, out_dir: str | Path) -> Path:
    """``model``'s adapter (``lora``: its settings) as peft writes it, on the Hugging Face model at ``base``."""
    from peft import LoraConfig
    from safetensors.torch import save_file

    from gptlab.io import atomic_path
    from gptlab.model.lora import adapter_state

    state, targets = to_peft(adapter_state(model), model.config)
    config = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"], target_modules=targets,
                        bias="none", fan_in_fan_out=_family(model.config)[0] == 0, task_type="CAUSAL_LM",
                        inference_mode=True, base_model_name_or_path=base)  # fmt: skip
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt"})  # what peft's save_pretrained writes
        config.save_pretrained(str(tmp))
    return Path(out_dir)


def read_peft_adapter(path: str | Path, config: GPTConfig, where: str) -> tuple[dict, dict[str, Tensor]]:
    """A peft LoRA adapter on ``config``'s Hugging Face model -> ({r, alpha, target_modules}, gptlab's weights)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if unmappable(config):
        raise ConfigError(f"{where}: train.init_from has no Hugging Face model ({'; '.join(unmappable(config))})")
    path = Path(path)
    try:
        settings = json.loads((path / CONFIG).read_text(encoding="utf-8"))
        state = load_file(str(path / WEIGHTS), device="cpu")
    except (OSError, ValueError, SafetensorError) as exc:
        raise ConfigError(f"{where} is not a peft adapter directory ({CONFIG}, {WEIGHTS}): {exc}") from None
    odd = [f"{k}={settings[k]!r}" for k in NOT_PLAIN if settings.get(k, "none") not in (None, False, "none", {}, [])]
    if settings.get("peft_type") != "LORA" or odd:
        raise ConfigError(f"{where} is not a plain LoRA adapter: {', '.join(odd) or settings.get('peft_type')}")
    family, blocks = _family(config)
    back = {names[family]: module for module, names in MODULES.items()}
    C, H = config.n_embd, config.ffn_mult * config.n_embd
    dims = {"attn.qkv": (C, 3 * C), "attn.out_proj": (C, C), "mlp.up_proj": (C, H), "mlp.down_proj": (H, C)}
    r, out = int(settings["r"]), {}
    for key, value in state.items():
        match = re.fullmatch(rf"{re.escape(PEFT_PREFIX + blocks)}(\d+)\.(.+)\.(lora_[AB])\.weight", key)
        if match is None or match[2] not in back or int(match[1]) >= config.n_layer:
            module = re.sub(r"\.(lora_\w+|base_layer)\..*", "", key.removeprefix(PEFT_PREFIX))
            raise ConfigError(f"{where} adapts {module}, which gptlab "
                              f"cannot on this base (it adapts {', '.join(back)} of its blocks)")  # fmt: skip
        i, module, part = match[1], back[match[2]], match[3]
        d_in, d_out = dims[module]
        expected = (r, d_in) if part == "lora_A" else (d_out, r)
        if tuple(value.shape) != expected:
            raise ConfigError(f"{where} is an adapter for another base: {key} is {tuple(value.shape)}, "
                              f"train.init_from's model needs {expected}")  # fmt: skip
        if family == 1 and module == "attn.qkv" and part == "lora_B":
            value = hf_neox.per_part(value, config.n_head)
        out[f"blocks.{i}.{module}.{part}.weight"] = value.float().contiguous()
    modules = sorted({k.split(".", 2)[2].rsplit(".", 2)[0] for k in out})
    if len(out) != 2 * len(modules) * config.n_layer:
        raise ConfigError(f"{where} adapts {', '.join(modules)} in some blocks only; gptlab adapts every block")
    found = {"r": r, "alpha": float(settings["lora_alpha"]), "target_modules": [m.split(".")[1] for m in modules]}
    return found, out


def _said(r: int, alpha: float, targets: Any) -> dict[str, str]:  # as the command line gives them
    return {"r": str(r), "alpha": f"{alpha:g}", "target_modules": f"[{','.join(sorted(targets))}]"}


def checked_init_adapter(path: str, lora: Any, config: GPTConfig) -> dict[str, Tensor]:  # lora: train.lora
    """``train.lora.init_adapter``'s weights, unless ``lora`` has not the adapter's r, alpha and targets."""
    where = f"train.lora.init_adapter={path}"
    found, state = read_peft_adapter(path, config, where)
    found, mine = _said(*found.values()), _said(lora.r, lora.alpha, lora.target_modules)
    differ = [f"train.lora.{k}={found[k]}" for k in found if found[k] != mine[k]]
    if differ:
        raise ConfigError(f"{where} was trained with other LoRA settings: set {' '.join(differ)}")
    return state
