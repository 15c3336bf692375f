"""Pieces shared by the GPT-2 and GPT-NeoX mappings: what maps at all, the biases."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from gptlab.model import GPTConfig, supports

# gptlab's activations by their Hugging Face names (GPT-2's and GPT-NeoX's alike), both ways.
EXPORTED_ACTIVATIONS = {"gelu": "gelu", "gelu_tanh": "gelu_new", "relu": "relu"}
IMPORTED_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu"}


def unmappable(config: GPTConfig) -> list[str]:
    """What in ``config`` has no Hugging Face equivalent ([] when it exports)."""
    if not supports(config, "hf_export"):  # the bigram and recurrent kinds
        return [f"model.kind={config.kind} (only a GPT maps to GPT-2 or GPT-NeoX)"]
    return [f"model.norm={config.norm} (GPT-2 and GPT-NeoX use LayerNorm)"] if config.norm != "layernorm" else []


def layer_names(n_layer: int, blocks: str, block: Mapping[str, str], final_norm: str) -> dict[str, str]:
    """gptlab's layer names -> a Hugging Face family's (``blocks``: its blocks' prefix), each a weight and a bias."""
    names = {f"blocks.{i}.{mine}": f"{blocks}{i}.{theirs}" for i in range(n_layer) for mine, theirs in block.items()}
    return {**names, "norm_f": final_norm}


def bias_or_zeros(state: Mapping[str, Tensor], name: str, size: int) -> Tensor:
    """``state[name]``, or zeros for a ``bias=false`` model (Hugging Face's layers always have biases)."""
    return state[name] if name in state else torch.zeros(size, dtype=state["tok_emb.weight"].dtype)
