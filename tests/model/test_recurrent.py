"""The recurrent models (RNN, LSTM, GRU): torch's own modules behind the family interface."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gptlab.model import build_model
from tests.model.kinds import RECURRENT, kind_config, kind_model, train_on

MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@pytest.mark.parametrize("kind", RECURRENT)
def test_built_on_torchs_module_with_the_configured_shape(kind: str):
    model = build_model(kind_config(kind, n_layer=3, n_embd=24, dropout=0.1))
    assert type(model.rnn) is MODULES[kind]
    assert (model.rnn.num_layers, model.rnn.hidden_size, model.rnn.input_size) == (3, 24, 24)
    assert model.rnn.dropout == 0.1 and model.rnn.batch_first
    # torch's dropout acts between layers only, so one layer gets none (and no warning)
    assert build_model(kind_config(kind, n_layer=1, dropout=0.1)).rnn.dropout == 0.0


@pytest.mark.parametrize("kind", RECURRENT)
def test_logits_are_causal_and_the_first_loss_is_a_uniform_guess(kind: str):
    model = kind_model(kind, scale=0.5)
    idx = torch.randint(0, 23, (2, 12))
    changed = idx.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % 23
    with torch.no_grad():
        a, b = model(idx)[0], model(changed)[0]
    torch.testing.assert_close(a[:, :7], b[:, :7])  # the future does not leak back
    assert not torch.allclose(a[:, 7:], b[:, 7:])
    fresh = kind_model(kind)
    _, loss = fresh(idx, idx)
    assert abs(float(loss.detach()) - math.log(23)) < 0.1


@pytest.mark.parametrize("kind", RECURRENT)
def test_the_state_carries_the_sequence_across_calls(kind: str):
    """Running two halves with the state handed over equals one pass: the hidden state is the
    whole memory of the past (what decoding uses as its cache)."""
    model = kind_model(kind, scale=0.5)
    idx = torch.randint(0, 23, (2, 12))
    with torch.no_grad():
        whole, _ = model.hidden_states(idx)
        first, state = model.hidden_states(idx[:, :5])
        second, _ = model.hidden_states(idx[:, 5:], state)
    torch.testing.assert_close(torch.cat((first, second), dim=1), whole)


@pytest.mark.parametrize("kind", RECURRENT)
def test_tied_and_untied_heads(kind: str):
    tied = build_model(kind_config(kind, tie_weights=True))
    untied = build_model(kind_config(kind, tie_weights=False))
    assert tied.lm_head is None and tied.lm_head_weight is tied.tok_emb.weight
    assert untied.lm_head is not None and untied.num_params() == tied.num_params() + 23 * 16
    rnn_weights = sum(p.numel() for n, p in tied.rnn.named_parameters() if n.startswith("weight"))
    assert tied.flops_per_token() == 6 * (rnn_weights + 23 * 16)


def test_the_lstm_forget_gate_starts_open():
    model = build_model(kind_config("lstm", n_embd=16))
    for layer in range(model.rnn.num_layers):
        gates = getattr(model.rnn, f"bias_ih_l{layer}").detach().view(4, 16)  # i, f, g, o
        assert torch.all(gates[1] == 1.0)


@pytest.mark.parametrize("kind", RECURRENT)
def test_it_learns_a_pattern_that_needs_memory(kind: str):
    """The token after 0 depends on the token before the 0: one token of context is not
    enough (the best a bigram can do here is 2/6 * ln 2 = 0.23 nats), a state is."""
    torch.manual_seed(0)
    model = build_model(kind_config(kind, n_layer=1, n_embd=32)).train()
    seq = torch.tensor([1, 0, 2, 3, 0, 4] * 12)
    x, y = seq[None, :-1], seq[None, 1:]
    assert train_on(model, x, y, lr=0.03, steps=150) < 0.1


def test_under_cpu_bf16_autocast_each_kind_trains_where_onednn_has_no_bf16():
    """oneDNN's LSTM has no bf16 kernel below AVX-512 ("could not create a primitive
    descriptor"): there the recurrence runs in fp32. ONEDNN_MAX_CPU_ISA=AVX2 (read when
    oneDNN starts, hence a subprocess) makes any x86 CPU such a CPU."""
    import os
    import subprocess
    import sys

    code = (
        "import torch\n"
        "from tests.model.kinds import RECURRENT, kind_model\n"
        "for kind in RECURRENT:\n"
        "    model, idx = kind_model(kind), torch.randint(0, 23, (2, 12))\n"
        "    with torch.autocast('cpu', dtype=torch.bfloat16):\n"
        "        _, loss = model(idx, idx)\n"
        "    loss.backward()\n"
        "    assert torch.isfinite(loss), kind\n"
        "print(torch.ops.mkldnn._is_mkldnn_bf16_supported())\n"
    )
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    if torch.backends.mkldnn.is_available() and torch.cpu._is_avx2_supported():
        assert res.stdout.split() == ["False"]  # the variable took effect: this ran without bf16
