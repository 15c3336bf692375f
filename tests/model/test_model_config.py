from __future__ import annotations

import pytest

from gptlab.errors import ConfigError, GptlabError, ModelConfigError
from gptlab.model import GPTConfig
from tests.helpers import model_config


@pytest.mark.parametrize("option", ["tiny", "small", "gpt_mini"])
def test_conf_model_options_are_valid(option: str) -> None:
    cfg = model_config(option, vocab_size=100)
    assert cfg.head_size == cfg.n_embd // cfg.n_head
    assert cfg.pos_encoding == "learned" and cfg.tie_weights


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"n_embd": 30, "n_head": 4}, "divisible"),
        ({"pos_encoding": "rope", "n_embd": 12, "n_head": 4}, "even"),
        ({"pos_encoding": "alibi"}, "learned, sinusoidal, rope"),
        ({"activation": "swish"}, "gelu, gelu_tanh, relu"),
        ({"norm": "batchnorm"}, "layernorm, rmsnorm"),
        ({"vocab_size": 0}, "vocab_size"),
        ({"context_size": -1}, "context_size"),
        ({"n_layer": 0}, "n_layer"),
        ({"n_head": 0}, "n_head"),
        ({"ffn_mult": 0}, "ffn_mult"),
        ({"dropout": 1.0}, "[0, 1)"),
        ({"dropout": -0.1}, "[0, 1)"),
        ({"rope_base": 0.0}, "rope_base"),
        # Wrong types are OmegaConf's to find (it reads "128" as 128 and 1 as true, as YAML would).
        ({"n_embd": "12x"}, "model.n_embd: '12x' is not an int"),
        ({"n_layer": 2.0}, "model.n_layer: 2.0 is not an int"),
        ({"bias": "maybe"}, "model.bias: 'maybe' is not true or false"),
    ],
)
def test_invalid_configs_raise_one_line_error(overrides: dict, needle: str) -> None:
    args = {"vocab_size": 100, **overrides}
    with pytest.raises(ConfigError) as exc:
        model_config("tiny", **args)
    msg = str(exc.value)
    assert needle in msg
    assert "\n" not in msg
    assert isinstance(exc.value, GptlabError)


def test_is_frozen() -> None:
    cfg = model_config("tiny", vocab_size=10)
    with pytest.raises(AttributeError):
        cfg.n_layer = 3  # type: ignore[misc]


def test_dict_round_trip() -> None:
    cfg = model_config("tiny", vocab_size=10, pos_encoding="rope", norm="rmsnorm", bias=False, dropout=0.1)
    d = cfg.to_dict()
    assert d["pos_encoding"] == "rope" and d["vocab_size"] == 10
    assert GPTConfig.from_dict(d) == cfg


def test_from_dict_rejects_unknown_keys_by_name() -> None:
    with pytest.raises(ModelConfigError, match="block_size.*n_embed|n_embed.*block_size"):
        GPTConfig.from_dict({"vocab_size": 10, "block_size": 8, "n_embed": 4})


def test_from_dict_requires_vocab_size() -> None:
    with pytest.raises(ModelConfigError, match="vocab_size"):
        GPTConfig.from_dict({"n_layer": 2})


def test_from_dict_checks_types_by_key() -> None:
    d = model_config("tiny", vocab_size=10).to_dict()
    with pytest.raises(ModelConfigError, match=r"^model\.n_head: 'two' is not an int$"):
        GPTConfig.from_dict({**d, "n_head": "two"})
