from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from gptlab.model import GPT
from gptlab.model.attention import CausalSelfAttention
from gptlab.model.config import POS_ENCODINGS
from tests.helpers import model_config

MakeModel = Callable[..., GPT]


def test_forward_shapes(make_model: MakeModel) -> None:
    model = make_model()
    idx = torch.randint(0, 23, (3, 12))
    logits, loss = model(idx)
    assert logits.shape == (3, 12, 23)
    assert loss is None
    logits, loss = model(idx[:, :5], idx[:, :5])
    assert logits.shape == (3, 5, 23)
    assert loss is not None and loss.shape == ()


@pytest.mark.parametrize("pos_encoding", POS_ENCODINGS)
def test_initial_loss_is_near_uniform(make_model: MakeModel, pos_encoding: str) -> None:
    model = make_model(pos_encoding=pos_encoding, vocab_size=500, n_embd=64, n_head=4)
    g = torch.Generator().manual_seed(1)
    idx = torch.randint(0, 500, (8, 12), generator=g)
    targets = torch.randint(0, 500, (8, 12), generator=g)
    _, loss = model(idx, targets)
    assert loss is not None
    assert abs(loss.item() - math.log(500)) < 0.1


def test_targets_minus_one_are_ignored(make_model: MakeModel) -> None:
    model = make_model(scale=0.3)
    idx = torch.randint(0, 23, (2, 6))
    targets = torch.full((2, 6), -1)
    targets[1, 3] = 7
    logits, loss = model(idx, targets)
    expected = F.cross_entropy(logits[1, 3][None], torch.tensor([7]))
    assert loss is not None
    torch.testing.assert_close(loss, expected)


def test_too_long_input_raises(make_model: MakeModel) -> None:
    model = make_model()
    with pytest.raises(ValueError, match="context_size 12"):
        model(torch.zeros(1, 13, dtype=torch.long))
    with pytest.raises(ValueError, match="batch, time"):
        model(torch.zeros(13, dtype=torch.long))


@pytest.mark.parametrize("pos_encoding", POS_ENCODINGS)
def test_causality(make_model: MakeModel, pos_encoding: str) -> None:
    model = make_model(scale=0.3, pos_encoding=pos_encoding)
    idx = torch.randint(0, 23, (2, 12))
    changed = idx.clone()
    k = 7
    changed[:, k] = (idx[:, k] + 1) % 23
    a, _ = model(idx)
    b, _ = model(changed)
    torch.testing.assert_close(a[:, :k], b[:, :k], rtol=0, atol=1e-6)
    assert (a[:, k:] - b[:, k:]).abs().amax() > 1e-3


@pytest.mark.parametrize("pos_encoding", POS_ENCODINGS)
def test_position_matters(make_model: MakeModel, pos_encoding: str) -> None:
    # A positional encoding that did nothing would still pass the causality test.
    model = make_model(scale=0.3, pos_encoding=pos_encoding)
    idx = torch.tensor([[1, 2, 3, 4]])
    swapped = torch.tensor([[2, 1, 3, 4]])
    a, _ = model(idx)
    b, _ = model(swapped)
    assert (a[:, -1] - b[:, -1]).abs().amax() > 1e-3


def test_weight_tying(make_model: MakeModel) -> None:
    tied = make_model()
    assert tied.lm_head is None
    assert tied.lm_head_weight is tied.tok_emb.weight
    _, loss = tied(torch.tensor([[1, 2, 3]]), torch.tensor([[2, 3, 4]]))
    assert loss is not None
    loss.backward()
    assert tied.tok_emb.weight.grad is not None

    untied = make_model(tie_weights=False)
    assert untied.lm_head is not None
    assert untied.lm_head_weight is not untied.tok_emb.weight
    assert untied.num_params() - tied.num_params() == 23 * 16


def test_gpt2_init() -> None:
    torch.manual_seed(0)
    n_layer = 4
    model = GPT(model_config("tiny", vocab_size=100, n_layer=n_layer, n_head=4, n_embd=64, context_size=32))
    resid_std = 0.02 / math.sqrt(2 * n_layer)
    for block in model.blocks:
        assert block.attn.out_proj.weight.std().item() == pytest.approx(resid_std, rel=0.05)
        assert block.mlp.down_proj.weight.std().item() == pytest.approx(resid_std, rel=0.05)
        assert block.attn.qkv.weight.std().item() == pytest.approx(0.02, rel=0.05)
        assert block.mlp.up_proj.weight.std().item() == pytest.approx(0.02, rel=0.05)
        assert torch.count_nonzero(block.attn.qkv.bias) == 0
        assert torch.count_nonzero(block.mlp.down_proj.bias) == 0
    assert model.tok_emb.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert model.pos_emb is not None
    assert model.pos_emb.weight.std().item() == pytest.approx(0.02, rel=0.05)


@pytest.mark.parametrize("pos_encoding", POS_ENCODINGS)
@pytest.mark.parametrize("tie_weights", [True, False])
@pytest.mark.parametrize("norm", ["layernorm", "rmsnorm"])
def test_state_dict_round_trip(
    make_model: MakeModel, pos_encoding: str, tie_weights: bool, norm: str
) -> None:
    kw = dict(pos_encoding=pos_encoding, tie_weights=tie_weights, norm=norm)
    src = make_model(scale=0.3, seed=1, **kw)
    dst = make_model(seed=2, **kw)
    sd = src.state_dict()
    # No aliased tensors (safetensors refuses them) and no derived buffers.
    ptrs = [t.data_ptr() for t in sd.values()]
    assert len(ptrs) == len(set(ptrs))
    assert not any("table" in k for k in sd)
    dst.load_state_dict(sd, strict=True)
    idx = torch.randint(0, 23, (2, 12))
    torch.testing.assert_close(dst(idx)[0], src(idx)[0], rtol=0, atol=0)


def test_clean_state_dict_strips_compile_prefix(make_model: MakeModel) -> None:
    src = make_model(scale=0.3, seed=1)
    # What torch.compile(model).state_dict() looks like, without paying for a compile.
    compiled_sd = {f"_orig_mod.{k}": v for k, v in src.state_dict().items()}
    dst = make_model(seed=2)
    with pytest.raises(RuntimeError):
        dst.load_state_dict(compiled_sd, strict=True)
    dst.load_state_dict(GPT.clean_state_dict(compiled_sd), strict=True)
    idx = torch.randint(0, 23, (1, 12))
    torch.testing.assert_close(dst(idx)[0], src(idx)[0], rtol=0, atol=0)
    # Also when the compiled model sat inside a wrapper (e.g. a LightningModule).
    nested = GPT.clean_state_dict({"model._orig_mod.blocks.0.attn.qkv.weight": torch.zeros(1)})
    assert list(nested) == ["model.blocks.0.attn.qkv.weight"]


def test_num_params_by_hand() -> None:
    V, ctx, L, C = 11, 8, 2, 8
    cfg = model_config("tiny", vocab_size=V, context_size=ctx, n_layer=L, n_head=2, n_embd=C)
    model = GPT(cfg)
    norm = 2 * C  # weight + bias
    attn = (C * 3 * C + 3 * C) + (C * C + C)
    ffn = (C * 4 * C + 4 * C) + (4 * C * C + C)
    block = 2 * norm + attn + ffn
    assert block == 872
    total = V * C + ctx * C + L * block + norm  # tied head adds nothing
    assert total == 1912
    assert model.num_params(non_embedding=False) == total
    assert model.num_params() == total - ctx * C
    unique = {id(p): p.numel() for p in model.parameters()}
    assert sum(unique.values()) == total
    # Matmul params = everything but the position table; the tied embedding is the head.
    assert model.flops_per_token(seq_len=5) == 6 * (total - ctx * C) + 12 * L * C * 5
    assert model.flops_per_token() == 6 * (total - ctx * C) + 12 * L * C * ctx

    untied = GPT(model_config("tiny", vocab_size=V, context_size=ctx, n_layer=L, n_head=2, n_embd=C, tie_weights=False))
    assert untied.num_params() == total - ctx * C + V * C
    # The untied token table is a lookup, so FLOPs are unchanged.
    assert untied.flops_per_token() == model.flops_per_token()

    rope = GPT(model_config("tiny", vocab_size=V, context_size=ctx, n_layer=L, n_head=2, n_embd=C, pos_encoding="rope"))
    assert rope.num_params() == rope.num_params(non_embedding=False) == total - ctx * C


def test_attention_maps(make_model: MakeModel) -> None:
    model = make_model(scale=0.3, dropout=0.2).train()
    idx = torch.randint(0, 23, (3, 9))
    maps = model.attention_maps(idx)
    assert model.training  # mode restored
    assert maps.shape == (2, 3, 2, 9, 9)
    assert not maps.requires_grad
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 3, 2, 9))
    upper = torch.ones(9, 9, dtype=torch.bool).triu(1)
    assert torch.all(maps[..., upper] == 0)
    assert torch.all(maps[..., ~upper] > 0)


@pytest.mark.parametrize("pos_encoding", POS_ENCODINGS)
def test_return_attn_path_matches_sdpa(make_model: MakeModel, pos_encoding: str) -> None:
    # The maps come from attention written out by hand; its logits must be the fused
    # kernel's, or the maps would show a model other than the one that runs.
    model = make_model(scale=0.3, pos_encoding=pos_encoding)
    idx = torch.randint(0, 23, (2, 12))
    with torch.no_grad():
        h, maps = model.hidden_states(idx, return_attn=True)
        explicit_logits = F.linear(h, model.lm_head_weight)
    assert maps.shape == (2, 2, 2, 12, 12)
    torch.testing.assert_close(explicit_logits, model(idx)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pos_encoding", POS_ENCODINGS)
def test_return_attn_with_kv_cache_matches_full(make_model: MakeModel, pos_encoding: str) -> None:
    # The explicit path's mask must be offset by the cached keys, like SDPA's.
    model = make_model(scale=0.3, pos_encoding=pos_encoding)
    idx = torch.randint(0, 23, (2, 12))
    with torch.no_grad():
        _, full = model.hidden_states(idx, return_attn=True)  # (L, B, nh, 12, 12)
        cache = model.new_kv_cache(2)
        model.hidden_states(idx[:, :7], cache)
        _, tail = model.hidden_states(idx[:, 7:], cache, return_attn=True)  # (L, B, nh, 5, 12)
    torch.testing.assert_close(tail, full[..., 7:, :], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pos_encoding", POS_ENCODINGS)
def test_attention_probs_reproduce_sdpa_output(make_model: MakeModel, pos_encoding: str) -> None:
    model = make_model(scale=0.3, pos_encoding=pos_encoding)
    idx = torch.randint(0, 23, (2, 10))
    probs = model.attention_maps(idx)[0]  # layer 0: (B, nh, T, T)
    attn = model.blocks[0].attn
    assert isinstance(attn, CausalSelfAttention)
    with torch.no_grad():
        x = model.tok_emb(idx)
        if model.pos_emb is not None:
            x = x + model.pos_emb(0, 10)
        rope = model.rope(0, 10) if model.rope is not None else None
        h = model.blocks[0].norm1(x)
        _, _, v = attn._project(h, rope)
        manual = attn.out_proj((probs @ v).transpose(1, 2).reshape(2, 10, 16))
        sdpa, no_probs = attn(h, rope)
    assert no_probs is None  # the default path returns no probabilities
    torch.testing.assert_close(manual, sdpa, rtol=1e-5, atol=1e-5)


def test_sdpa_stays_the_default_path(make_model: MakeModel, monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_model()
    calls = []
    sdpa = F.scaled_dot_product_attention

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs.get("is_causal"))
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    model(torch.randint(0, 23, (1, 5)))
    assert calls == [True, True]  # one fused causal call per layer
    model.attention_maps(torch.randint(0, 23, (1, 5)))
    assert len(calls) == 2  # the maps never go through SDPA


def test_dropout_only_in_training(make_model: MakeModel) -> None:
    model = make_model(dropout=0.5, scale=0.3)
    idx = torch.randint(0, 23, (2, 12))
    torch.testing.assert_close(model(idx)[0], model(idx)[0])
    model.train()
    assert not torch.allclose(model(idx)[0], model(idx)[0])


@pytest.mark.parametrize("pos_encoding", POS_ENCODINGS)
def test_overfits_one_sequence(make_model: MakeModel, pos_encoding: str) -> None:
    model = make_model(pos_encoding=pos_encoding).train()
    seq = torch.randint(0, 23, (1, 13), generator=torch.Generator().manual_seed(3))
    x, y = seq[:, :-1], seq[:, 1:]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(100):
        _, loss = model(x, y)
        assert loss is not None
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
