"""The model family: one interface from a config dict to a model of any kind."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from gptlab.errors import ConfigError, ModelConfigError
from gptlab.model import (
    GPT,
    KINDS,
    BigramConfig,
    GPTConfig,
    RecurrentConfig,
    build_model,
    config_from_dict,
    parse_model_config,
    require,
    supports,
)
from gptlab.model.bigram import BigramLM
from gptlab.model.recurrent import RecurrentLM
from tests.helpers import CONF, conf_values
from tests.model.kinds import OPTIONS, kind_config

MODEL_OPTIONS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))


@pytest.mark.parametrize("option", MODEL_OPTIONS)
def test_every_model_option_parses_into_its_kinds_config(option: str):
    values = conf_values("model", f"model={option}")
    config = parse_model_config(values, vocab_size=65)
    assert isinstance(config, KINDS[values["kind"]].config_cls)
    assert config.kind == values["kind"]
    assert config_from_dict(config.to_dict()) == config  # what checkpoints store round-trips


@pytest.mark.parametrize("cls", [GPTConfig, BigramConfig, RecurrentConfig])
def test_config_classes_leave_every_default_to_conf(cls):
    defaulted = [f.name for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING]
    assert not defaulted


def test_a_config_dict_without_kind_is_a_gpt():
    """Model directories and checkpoints written before `kind` existed still load."""
    old = conf_values("model", "model=tiny")
    del old["kind"]
    config = config_from_dict({**old, "vocab_size": 10})
    assert isinstance(config, GPTConfig) and config.kind == "gpt"
    assert isinstance(build_model(config), GPT)


def test_unknown_kind_and_keys_of_another_kind_are_one_line_errors():
    with pytest.raises(ModelConfigError, match="model.kind must be one of: gpt, bigram, rnn, lstm, gru; got 'transformer'"):
        parse_model_config({"kind": "transformer", "context_size": 8}, vocab_size=10)
    lstm = {**conf_values("model", "model=lstm"), "n_head": 4}
    with pytest.raises(ConfigError, match="unknown key.*n_head"):
        parse_model_config(lstm, vocab_size=10)
    with pytest.raises(ModelConfigError, match="kind='lstm'"):
        GPTConfig.from_dict({**conf_values("model", "model=tiny"), "kind": "lstm", "vocab_size": 10})
    with pytest.raises(ModelConfigError, match="kind='gpt'"):
        RecurrentConfig.from_dict({**conf_values("model", "model=lstm"), "kind": "gpt", "vocab_size": 10})


@pytest.mark.parametrize(
    ("kind", "cls"),
    [("gpt", GPT), ("bigram", BigramLM), ("rnn", RecurrentLM), ("lstm", RecurrentLM), ("gru", RecurrentLM)],
)
def test_build_model_makes_the_kind_and_every_kind_answers_the_same_calls(kind, cls):
    model = build_model(kind_config(kind))
    assert isinstance(model, cls) and model.config.kind == kind
    idx = torch.randint(0, 23, (2, 12))
    logits, loss = model(idx, idx)
    assert logits.shape == (2, 12, 23) and loss.ndim == 0
    assert model.num_params() > 0 and model.flops_per_token() >= 0
    assert model.config.describe() and model.config.summary()


def test_only_the_gpt_has_attention_hf_export_and_init_from():
    gpt, lstm = kind_config("gpt"), kind_config("lstm")
    for feature in ("attention_maps", "hf_export", "init_from"):
        assert supports(gpt, feature) and not supports(lstm, feature)
        require(gpt, feature, "x")
    with pytest.raises(ConfigError, match=r"^export: a model.kind=lstm model has no Hugging Face equivalent.*only gpt has$"):
        require(lstm, "hf_export", "export")
    with pytest.raises(ValueError, match="unknown model feature"):
        supports(gpt, "telepathy")


def test_the_seed_options_are_about_the_gpts_size():
    """conf/model/{rnn,lstm,gru}.yaml are sized to conf/model/small.yaml (within 5%), so the
    seed_models sweep compares models of one parameter budget; the bigram is the floor."""
    sizes = {
        option: build_model(parse_model_config(conf_values("model", f"model={option}"), vocab_size=65)).num_params()
        for option in ("small", "rnn", "lstm", "gru", "bigram")
    }
    for option in ("rnn", "lstm", "gru"):
        assert math.isclose(sizes[option], sizes["small"], rel_tol=0.05), sizes
    assert sizes["bigram"] == 65 * 65
    assert set(OPTIONS) == set(KINDS)
