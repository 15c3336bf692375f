"""gptlab's rope GPT <-> Hugging Face GPT-NeoX (``GPTNeoXForCausalLM``) configured as it:
sequential residual, rotary on every channel, LayerNorm, biases (zeros for ``bias=false``).

GPT-NeoX's ``rotate_half`` pairs channel i with i + head_size/2, gptlab's layout
(:func:`gptlab.model.positional.apply_rotary`), so q and k keep their channels; only the
fused qkv rows are reordered: (head, [q|k|v], head_size) there, ([q|k|v], head, head_size) here.
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

MODEL_TYPE = "gpt_neox"
ARCHITECTURE = "GPTNeoXForCausalLM"
PREFIX = "gpt_neox."
# A block's layers, gptlab's name -> GPT-NeoX's.
BLOCK = {
    "norm1": "input_layernorm",
    "attn.qkv": "attention.query_key_value",
    "attn.out_proj": "attention.dense",
    "norm2": "post_attention_layernorm",
    "mlp.up_proj": "mlp.dense_h_to_4h",
    "mlp.down_proj": "mlp.dense_4h_to_h",
}
HEAD = "embed_out.weight"  # the untied head's name in GPT-NeoX checkpoints


def neox_config(config: GPTConfig, token_ids: Mapping[str, int | None]) -> dict[str, Any]:
    """``config.json`` of the GPT-NeoX equivalent of a rope model with ``config``."""
    return {
        "architectures": [ARCHITECTURE],
        "model_type": MODEL_TYPE,
        "vocab_size": config.vocab_size,
        "hidden_size": config.n_embd,
        "num_hidden_layers": config.n_layer,
        "num_attention_heads": config.n_head,
        "intermediate_size": config.ffn_mult * config.n_embd,
        "hidden_act": EXPORTED_ACTIVATIONS[config.activation],
        "max_position_embeddings": config.context_size,
        # Both spellings: rope_parameters for transformers >= 5, the rotary_* keys before.
        "rope_parameters": {"rope_type": "default", "rope_theta": config.rope_base, "partial_rotary_factor": 1.0},
        "rotary_pct": 1.0,
        "rotary_emb_base": config.rope_base,
        "use_parallel_residual": False,
        "layer_norm_eps": EPS,
        "attention_bias": True,
        "hidden_dropout": config.dropout,
        "attention_dropout": config.dropout,
        "initializer_range": 0.02,
        "tie_word_embeddings": config.tie_weights,
        "use_cache": True,
        "torch_dtype": "float32",
        **token_ids,
    }


def neox_state(model: GPT) -> dict[str, Tensor]:
    """GPT-NeoX's state dict (its names, its qkv order) for ``model``."""
    cfg = model.config
    sd = model.state_dict()
    out = {f"{PREFIX}embed_in.weight": sd["tok_emb.weight"]}
    for mine, theirs in layer_names(cfg.n_layer, f"{PREFIX}layers.", BLOCK, f"{PREFIX}final_layer_norm").items():
        weight = sd[f"{mine}.weight"]
        bias = bias_or_zeros(sd, f"{mine}.bias", weight.shape[0])
        if mine.endswith("attn.qkv"):
            weight, bias = per_head(weight, cfg.n_head), per_head(bias, cfg.n_head)
        out[f"{theirs}.weight"], out[f"{theirs}.bias"] = weight, bias
    if not cfg.tie_weights:
        out[HEAD] = sd["lm_head.weight"]
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in out.items()}


def per_head(t: Tensor, n_head: int) -> Tensor:
    """([q|k|v], head, hs, ...) -> (head, [q|k|v], hs, ...): gptlab's qkv rows in GPT-NeoX's order."""
    rest = t.shape[1:]
    return t.reshape(3, n_head, -1, *rest).transpose(0, 1).reshape(-1, *rest)


def per_part(t: Tensor, n_head: int) -> Tensor:
    """The inverse of :func:`per_head`."""
    rest = t.shape[1:]
    return t.reshape(n_head, 3, -1, *rest).transpose(0, 1).reshape(-1, *rest)


def config_from_neox(hf: Mapping[str, Any], where: str) -> GPTConfig:
    """The gptlab config of a GPT-NeoX ``config.json`` that is gptlab's rope model."""
    rope = hf.get("rope_parameters") or {}
    rotary_pct = float(rope.get("partial_rotary_factor", hf.get("rotary_pct", 0.25)))
    base = float(rope.get("rope_theta", hf.get("rotary_emb_base", 10000.0)))
    activation = hf.get("hidden_act", "gelu")
    problems = []
    if hf.get("use_parallel_residual", True):
        problems.append("use_parallel_residual=true (gptlab's blocks are sequential)")
    if rotary_pct != 1.0:
        problems.append(f"rotary_pct={rotary_pct} (gptlab rotates every channel)")
    if rope.get("rope_type", "default") != "default":
        problems.append(f"rope_type={rope.get('rope_type')!r}")
    if activation not in IMPORTED_ACTIVATIONS:
        problems.append(f"hidden_act={activation!r}")
    if abs(float(hf.get("layer_norm_eps", EPS)) - EPS) > 1e-12:
        problems.append(f"layer_norm_eps={hf.get('layer_norm_eps')} (gptlab's is {EPS})")
    if not hf.get("attention_bias", True):
        problems.append("attention_bias=false")
    n_embd, inner = int(hf["hidden_size"]), int(hf["intermediate_size"])
    if inner % n_embd:
        problems.append(f"intermediate_size={inner} (not a multiple of hidden_size)")
    if problems:
        raise CheckpointError(f"{where}: this GPT-NeoX model cannot be imported: {'; '.join(problems)}")
    return GPTConfig(
        kind="gpt",
        vocab_size=int(hf["vocab_size"]),
        context_size=int(hf["max_position_embeddings"]),
        n_layer=int(hf["num_hidden_layers"]),
        n_head=int(hf["num_attention_heads"]),
        n_embd=n_embd,
        dropout=float(hf.get("hidden_dropout", 0.0)),
        bias=True,
        pos_encoding="rope",
        activation=IMPORTED_ACTIVATIONS[activation],
        norm="layernorm",
        tie_weights=bool(hf.get("tie_word_embeddings", False)),
        rope_base=base,
        ffn_mult=inner // n_embd,
    )


def state_from_neox(hf_state: Mapping[str, Tensor], config: GPTConfig, where: str) -> dict[str, Tensor]:
    """gptlab's state dict from GPT-NeoX's."""
    sd = {k.removeprefix(PREFIX): v for k, v in hf_state.items() if not k.endswith((".attention.bias", ".masked_bias"))}
    sd = {("lm_head.weight" if k in (HEAD, "lm_head.weight") else k): v for k, v in sd.items()}
    used: set[str] = set()

    def take(name: str) -> Tensor:
        if name not in sd:
            raise CheckpointError(f"{where} does not match its config.json: weight {name} is missing")
        used.add(name)
        return sd[name].to(torch.float32).contiguous()

    out = {"tok_emb.weight": take("embed_in.weight")}
    for mine, theirs in layer_names(config.n_layer, "layers.", BLOCK, "final_layer_norm").items():
        weight, bias = take(f"{theirs}.weight"), take(f"{theirs}.bias")
        if mine.endswith("attn.qkv"):
            weight, bias = per_part(weight, config.n_head), per_part(bias, config.n_head)
        out[f"{mine}.weight"], out[f"{mine}.bias"] = weight, bias
    if not config.tie_weights:
        out["lm_head.weight"] = take("lm_head.weight")
    sd.pop("lm_head.weight", None)
    unexpected = sorted(set(sd) - used)
    if unexpected:
        raise CheckpointError(f"{where} does not match its config.json: unexpected weights {unexpected[:3]}")
    return {k: v.contiguous() for k, v in out.items()}
