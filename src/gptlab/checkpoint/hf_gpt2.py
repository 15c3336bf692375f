"""gptlab's GPT <-> Hugging Face GPT-2 (``GPT2LMHeadModel``): the same network, config keys and weight names.

GPT-2's ``Conv1D`` weights are the transpose of ``nn.Linear``'s (its c_attn is gptlab's qkv
layout otherwise); sinusoidal positions go as GPT-2's learned ``wpe`` (the same table, so
the same logits); ``bias=false`` is written as zero biases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from gptlab.errors import CheckpointError
from gptlab.checkpoint.hf_state import EXPORTED_ACTIVATIONS, IMPORTED_ACTIVATIONS, bias_or_zeros, layer_names
from gptlab.model import GPT, GPTConfig
from gptlab.model.norm import EPS

MODEL_TYPE = "gpt2"
ARCHITECTURE = "GPT2LMHeadModel"
PREFIX = "transformer."
# A block's layers, gptlab's name -> GPT-2's; the CONV1D ones store their weight as (in, out).
BLOCK = {
    "norm1": "ln_1",
    "attn.qkv": "attn.c_attn",
    "attn.out_proj": "attn.c_proj",
    "norm2": "ln_2",
    "mlp.up_proj": "mlp.c_fc",
    "mlp.down_proj": "mlp.c_proj",
}
CONV1D = ("attn.qkv", "attn.out_proj", "mlp.up_proj", "mlp.down_proj")
# Buffers older GPT-2 checkpoints carry (the causal mask), not weights.
_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")


def gpt2_config(config: GPTConfig, token_ids: Mapping[str, int | None]) -> dict[str, Any]:
    """``config.json`` of the GPT-2 equivalent of a model with ``config``."""
    return {
        "architectures": [ARCHITECTURE],
        "model_type": MODEL_TYPE,
        "vocab_size": config.vocab_size,
        "n_positions": config.context_size,
        "n_embd": config.n_embd,
        "n_layer": config.n_layer,
        "n_head": config.n_head,
        "n_inner": config.ffn_mult * config.n_embd,
        "activation_function": EXPORTED_ACTIVATIONS[config.activation],
        "resid_pdrop": config.dropout,
        "embd_pdrop": config.dropout,
        "attn_pdrop": config.dropout,
        "layer_norm_epsilon": EPS,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "tie_word_embeddings": config.tie_weights,
        "use_cache": True,
        "torch_dtype": "float32",
        **token_ids,
    }


def gpt2_state(model: GPT) -> dict[str, Tensor]:
    """GPT-2's state dict (its names, its shapes) for ``model``."""
    cfg = model.config
    sd = model.state_dict()
    out = {f"{PREFIX}wte.weight": sd["tok_emb.weight"]}
    if cfg.pos_encoding == "learned":
        out[f"{PREFIX}wpe.weight"] = sd["pos_emb.weight"]
    else:  # sinusoidal (rope goes to GPT-NeoX)
        out[f"{PREFIX}wpe.weight"] = model.pos_emb.table  # type: ignore[union-attr]
    for mine, theirs in layer_names(cfg.n_layer, f"{PREFIX}h.", BLOCK, f"{PREFIX}ln_f").items():
        weight = sd[f"{mine}.weight"]
        out[f"{theirs}.weight"] = weight.t() if mine.endswith(CONV1D) else weight
        out[f"{theirs}.bias"] = bias_or_zeros(sd, f"{mine}.bias", weight.shape[0])
    if not cfg.tie_weights:
        out["lm_head.weight"] = sd["lm_head.weight"]
    # safetensors wants each tensor contiguous and in storage of its own.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in out.items()}


def config_from_gpt2(hf: Mapping[str, Any], where: str) -> GPTConfig:
    """The gptlab config of a GPT-2 ``config.json`` (parsed), or why there is none."""

    def need(key: str, ok: Any, why: str) -> None:
        if not ok:
            raise CheckpointError(f"{where}: {key}={hf.get(key)!r} cannot be imported: {why}")

    try:
        n_embd, n_layer, n_head = int(hf["n_embd"]), int(hf["n_layer"]), int(hf["n_head"])
        vocab_size, context_size = int(hf["vocab_size"]), int(hf["n_positions"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{where}: a GPT-2 config needs integer n_embd, n_layer, n_head, vocab_size and n_positions ({exc!r})"
        ) from None
    inner = hf.get("n_inner") or 4 * n_embd
    activation = hf.get("activation_function", "gelu_new")
    need("activation_function", activation in IMPORTED_ACTIVATIONS, f"gptlab has {', '.join(IMPORTED_ACTIVATIONS)}")
    need("n_inner", inner % n_embd == 0, f"the MLP width must be a multiple of n_embd ({n_embd})")
    eps = float(hf.get("layer_norm_epsilon", EPS))
    need("layer_norm_epsilon", abs(eps - EPS) < 1e-12, f"gptlab's LayerNorm uses {EPS}")
    need("scale_attn_weights", hf.get("scale_attn_weights", True), "gptlab always scales by 1/sqrt(head size)")
    need(
        "scale_attn_by_inverse_layer_idx", not hf.get("scale_attn_by_inverse_layer_idx", False),
        "gptlab has no per-layer scaling",
    )  # fmt: skip
    need("add_cross_attention", not hf.get("add_cross_attention", False), "gptlab is decoder-only")
    return GPTConfig(
        kind="gpt",
        vocab_size=vocab_size,
        context_size=context_size,
        n_layer=n_layer,
        n_head=n_head,
        n_embd=n_embd,
        dropout=float(hf.get("resid_pdrop", 0.1)),
        bias=True,
        pos_encoding="learned",
        activation=IMPORTED_ACTIVATIONS[activation],
        norm="layernorm",
        tie_weights=bool(hf.get("tie_word_embeddings", True)),
        rope_base=10000.0,  # unused with learned positions
        ffn_mult=inner // n_embd,
    )


def state_from_gpt2(hf_state: Mapping[str, Tensor], config: GPTConfig, where: str) -> dict[str, Tensor]:
    """gptlab's state dict from GPT-2's (with or without the ``transformer.`` prefix)."""
    sd = {k.removeprefix(PREFIX): v for k, v in hf_state.items() if not k.endswith(_IGNORED_SUFFIXES)}
    used: set[str] = set()

    def take(name: str, transpose: bool = False) -> Tensor:
        if name not in sd:
            raise CheckpointError(f"{where} does not match its config.json: weight {name} is missing")
        used.add(name)
        tensor = sd[name].to(torch.float32)
        return (tensor.t() if transpose else tensor).contiguous()

    out = {"tok_emb.weight": take("wte.weight"), "pos_emb.weight": take("wpe.weight")}
    for mine, theirs in layer_names(config.n_layer, "h.", BLOCK, "ln_f").items():
        out[f"{mine}.weight"] = take(f"{theirs}.weight", transpose=mine.endswith(CONV1D))
        out[f"{mine}.bias"] = take(f"{theirs}.bias")
    if not config.tie_weights:
        out["lm_head.weight"] = take("lm_head.weight")
    sd.pop("lm_head.weight", None)  # a tied head saved anyway is the embedding again
    unexpected = sorted(set(sd) - used)
    if unexpected:
        raise CheckpointError(f"{where} does not match its config.json: unexpected weights {unexpected[:3]}")
    return out
