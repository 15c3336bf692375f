from __future__ import annotations

import pytest

from gptlab.config import to_dataclass
from gptlab.errors import ConfigError
from gptlab.generation import STRATEGIES, GenerationConfig


def test_defaults_are_valid() -> None:
    cfg = GenerationConfig()
    assert cfg.strategy == "sample" and cfg.stop_strings == ()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"strategy": "nucleus"}, "strategy"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"repetition_penalty": 0.0}, "repetition_penalty"),
        ({"num_beams": 0}, "num_beams"),
        ({"num_samples": 0}, "num_samples"),
        ({"strategy": "beam", "num_beams": 2, "num_samples": 3}, "num_samples"),
        ({"seed": -1}, "seed"),
        ({"stop_strings": ("",)}, "stop_strings"),
        ({"cache_window": "sliding"}, "cache_window"),
    ],
)
def test_invalid_values_raise_config_error_naming_the_field(kwargs: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        GenerationConfig(**kwargs)
    assert "\n" not in str(info.value)  # one-line messages


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_new_tokens": 2.5}, "sample.max_new_tokens: 2.5 is not an int"),
        ({"top_k": True}, "sample.top_k: True is not an int or null"),
        ({"seed": "abc"}, "sample.seed: 'abc' is not an int or null"),
        ({"temperature": "hot"}, "sample.temperature: 'hot' is not a number"),
        ({"stop_strings": 3}, "sample.stop_strings: 3 is not a list"),
        ({"stop_at_eot": "maybe"}, "sample.stop_at_eot: 'maybe' is not true or false"),
        ({"beams": 2}, r"unknown key\(s\) in 'sample': beams; valid keys: cache_window, length_penalty"),
    ],
)
def test_wrong_types_from_a_config_section_are_one_line_naming_the_key(values: dict, message: str) -> None:
    # OmegaConf checks the types (GenerationConfig is built by to_dataclass from config
    # sections and request params); one line naming the full key.
    with pytest.raises(ConfigError, match=f"^{message}") as info:
        to_dataclass(GenerationConfig, values, "sample")
    assert "\n" not in str(info.value)


def test_temperature_is_only_checked_when_sampling() -> None:
    GenerationConfig(strategy="greedy", temperature=0.0)
    GenerationConfig(strategy="beam", temperature=0.0)


def test_stop_strings_are_normalised_to_a_tuple() -> None:
    assert GenerationConfig(stop_strings=["\n\n", "END"]).stop_strings == ("\n\n", "END")  # type: ignore[arg-type]
    assert to_dataclass(GenerationConfig, {"stop_strings": ["END"]}, "generate").stop_strings == ("END",)
    # A bare string in a config section is one stop string, not one per character.
    assert to_dataclass(GenerationConfig, {"stop_strings": "\n\n"}, "generate").stop_strings == ("\n\n",)


def test_the_shipped_sample_strategies_are_valid() -> None:
    """Each strategy of conf/sample/default.yaml builds as the sample stage builds it, and
    decodes as its name says: greedy, sample and beam are that strategy; top_k and top_p
    sample with that knob on."""
    from gptlab.reporting.sample_report import SampleConfig
    from tests.helpers import conf_section

    configs = conf_section(SampleConfig, "sample").generation_configs()
    assert set(configs) == {"greedy", "sample", "top_k", "top_p", "beam"}
    for name, cfg in configs.items():
        if name in STRATEGIES:
            assert cfg.strategy == name, name
        else:
            assert cfg.strategy == "sample" and getattr(cfg, name) is not None, name
