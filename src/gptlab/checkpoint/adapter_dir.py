"""A LoRA fine-tune's model directory written as its adapter alone (``train.lora.model_dir=adapter``):
``adapter.safetensors`` and a config.json whose lineage names the base and its sha256;
loading refuses a changed base and merges the adapter, so a plain model comes back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gptlab.errors import CheckpointError
from gptlab.model.lora import LoraConfig, add_lora, load_adapter_state, merged_model

ADAPTER_WEIGHTS = "adapter.safetensors"


def load_adapter_model(path: Path, info: dict, merge: bool = True) -> Any:
    """The merged plain GPT of an adapter directory: its base, checked by sha256, plus the adapter (or unmerged)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from gptlab.checkpoint.pretrained import load_pretrained, read_pretrained
    from gptlab.config import to_dataclass
    from gptlab.io import sha256_file
    from gptlab.model import GPT, GPTConfig

    lineage = info.get("lineage") or {}
    base, digest = lineage.get("init_from"), lineage.get("init_sha256")
    if not base or not digest:
        raise CheckpointError(
            f"{path} holds a LoRA adapter but its config.json names no base model (lineage.init_from)"
        )
    pretrained = read_pretrained(base)  # a gptlab or a Hugging Face directory
    if sha256_file(pretrained.weights) != digest:
        raise CheckpointError(
            f"{path} is a LoRA adapter for {base} (sha256 {digest[:12]}…), but {pretrained.weights} is not those "
            "weights (its sha256 differs): load it with the base it was trained on"
        )
    config = GPTConfig.from_dict(info["model"])
    theirs = {**pretrained.config.to_dict(), "dropout": config.dropout}
    if theirs != config.to_dict():
        raise CheckpointError(f"{path} is a LoRA adapter for another model config than {base}'s")
    model = load_pretrained(GPT(config), pretrained)
    add_lora(model, to_dataclass(LoraConfig, info["lora"], f"{path / 'config.json'}: lora", init_adapter=None))
    weights = path / ADAPTER_WEIGHTS
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights} is missing or not a valid safetensors file ({exc})") from None
    load_adapter_state(model, state, str(weights))
    return merged_model(model) if merge else model
