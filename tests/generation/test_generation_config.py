from __future__ import annotations

from pathlib import Path

import pytest

from gptlab.errors import ConfigError
from gptlab.generation import GenerationConfig

CONF = Path(__file__).resolve().parents[2] / "conf"


def test_defaults_are_valid() -> None:
    cfg = GenerationConfig()
    assert cfg.strategy == "sample" and cfg.stop_strings == ()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"strategy": "nucleus"}, "strategy"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_new_tokens": 2.5}, "max_new_tokens"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": True}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"repetition_penalty": 0.0}, "repetition_penalty"),
        ({"num_beams": 0}, "num_beams"),
        ({"num_samples": 0}, "num_samples"),
        ({"strategy": "beam", "num_beams": 2, "num_samples": 3}, "num_samples"),
        ({"seed": -1}, "seed"),
        ({"seed": "abc"}, "seed"),
        ({"stop_strings": ("",)}, "stop_strings"),
        ({"stop_strings": (1,)}, "stop_strings"),
        ({"stop_strings": 3}, "stop_strings"),
        ({"stop_at_eot": "yes"}, "stop_at_eot"),
        ({"use_cache": 1}, "use_cache"),
    ],
)
def test_invalid_values_raise_config_error_naming_the_field(kwargs: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        GenerationConfig(**kwargs)
    assert "\n" not in str(info.value)  # one-line messages


def test_temperature_is_only_checked_when_sampling() -> None:
    GenerationConfig(strategy="greedy", temperature=0.0)
    GenerationConfig(strategy="beam", temperature=0.0)


def test_stop_strings_are_normalised_to_a_tuple() -> None:
    assert GenerationConfig(stop_strings=["\n\n", "END"]).stop_strings == ("\n\n", "END")  # type: ignore[arg-type]
    # A bare string is one stop string, not one per character.
    assert GenerationConfig(stop_strings="\n\n").stop_strings == ("\n\n",)  # type: ignore[arg-type]


def test_the_shipped_sample_strategies_are_valid() -> None:
    from omegaconf import OmegaConf

    from gptlab.config.sections import to_dataclass

    conf = OmegaConf.load(CONF / "sample" / "default.yaml")
    for name, block in conf.strategies.items():
        cfg = to_dataclass(GenerationConfig, block, f"sample.strategies.{name}")
        assert cfg.strategy in ("greedy", "sample", "beam")
