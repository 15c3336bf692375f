"""param_groups / make_adamw: weight decay on matrices only, each tensor exactly once."""

from __future__ import annotations

import torch

from gptlab.model import GPT
from gptlab.training.config import OptimConfig
from gptlab.training.optim import make_adamw, param_groups
from tests.helpers import conf_section, model_config

TINY = dict(vocab_size=11, context_size=8, n_layer=2, n_head=2, n_embd=8)

# Per block: the four Linear weights decay; biases and norm gains/shifts do not.
_BLOCK_DECAY = ["attn.qkv.weight", "attn.out_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"]
_BLOCK_NO_DECAY = [
    "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias",
    "attn.qkv.bias", "attn.out_proj.bias", "mlp.up_proj.bias", "mlp.down_proj.bias",
]  # fmt: skip


def _names(model: torch.nn.Module, groups: list[dict]) -> list[set[str]]:
    name_of = {id(p): n for n, p in model.named_parameters()}
    return [{name_of[id(p)] for p in g["params"]} for g in groups]


def _blocks(suffixes: list[str]) -> set[str]:
    return {f"blocks.{i}.{s}" for i in range(2) for s in suffixes}


def test_matrices_decay_vectors_do_not() -> None:
    model = GPT(model_config("tiny", **TINY))
    groups = param_groups(model, weight_decay=0.1)
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    decay, no_decay = _names(model, groups)
    assert decay == {"tok_emb.weight", "pos_emb.weight"} | _blocks(_BLOCK_DECAY)
    assert no_decay == {"norm_f.weight", "norm_f.bias"} | _blocks(_BLOCK_NO_DECAY)


def test_tied_head_appears_once_untied_head_decays() -> None:
    tied = GPT(model_config("tiny", **TINY))
    decay, no_decay = param_groups(tied, 0.1)
    n_tensors = len(decay["params"]) + len(no_decay["params"])
    assert n_tensors == 2 + 2 + 2 * (4 + 8)  # embeddings, final norm, two blocks
    assert len({id(p) for g in (decay, no_decay) for p in g["params"]}) == n_tensors

    untied = GPT(model_config("tiny", **TINY, tie_weights=False))
    decay_names, _ = _names(untied, param_groups(untied, 0.1))
    assert "lm_head.weight" in decay_names


def test_rmsnorm_no_bias_rope() -> None:
    model = GPT(model_config("tiny", **TINY, norm="rmsnorm", bias=False, pos_encoding="rope"))
    decay, no_decay = _names(model, param_groups(model, 0.1))
    assert decay == {"tok_emb.weight"} | _blocks(_BLOCK_DECAY)
    assert no_decay == {"norm_f.weight"} | _blocks(["norm1.weight", "norm2.weight"])


def test_frozen_parameters_are_left_out() -> None:
    model = GPT(model_config("tiny", **TINY))
    model.tok_emb.weight.requires_grad_(False)
    model.norm_f.bias.requires_grad_(False)
    decay, no_decay = _names(model, param_groups(model, 0.1))
    assert "tok_emb.weight" not in decay
    assert "norm_f.bias" not in no_decay


def test_make_adamw_uses_the_config() -> None:
    model = GPT(model_config("tiny", **TINY))
    cfg = conf_section(OptimConfig, "optim", lr=3e-4, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05)
    opt = make_adamw(model, cfg, "cpu")
    assert isinstance(opt, torch.optim.AdamW)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.0]
    for g in opt.param_groups:
        assert (g["lr"], g["betas"], g["eps"]) == (3e-4, (0.8, 0.95), 1e-6)
        assert g["fused"]  # "auto": the fused kernel, on the CPU too


def test_one_step_decays_only_the_decay_group() -> None:
    # With zero gradients Adam's update is zero, so the only change is decoupled
    # decay: p <- p * (1 - lr * wd) = p * 0.9 in the decay group, p elsewhere.
    model = GPT(model_config("tiny", **TINY))
    opt = make_adamw(model, conf_section(OptimConfig, "optim", lr=0.5, weight_decay=0.2), "cpu")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    decay_names, _ = _names(model, opt.param_groups)
    for name, p in model.named_parameters():
        factor = 0.9 if name in decay_names else 1.0
        torch.testing.assert_close(p.detach(), before[name] * factor)


def test_auto_fuses_on_cuda_and_cpu_unless_a_grad_scaler_scales_the_gradients() -> None:
    model = GPT(model_config("tiny", **TINY))
    cfg = conf_section(OptimConfig, "optim", fused="auto")
    assert make_adamw(model, cfg, "cpu").defaults["fused"]
    assert not make_adamw(model, cfg, "cpu", grad_scaler=True).defaults["fused"]
    assert not make_adamw(model, cfg, "mps").defaults["fused"]
    assert not make_adamw(model, conf_section(OptimConfig, "optim", fused=False), "cpu").defaults["fused"]
    assert make_adamw(model, cfg, "cuda").defaults["fused"]
    # 16-mixed: Lightning must unscale before clipping, which a fused step would do itself
    assert not make_adamw(model, cfg, "cuda", grad_scaler=True).defaults["fused"]
    assert make_adamw(model, conf_section(OptimConfig, "optim", fused=True), "cuda", grad_scaler=True).defaults["fused"]
