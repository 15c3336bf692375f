"""gptlab.reporting.sample_report: the ``sample`` section and its strategies, checked before a model loads.

The report itself (samples.md, the picture, MLflow) is exercised through the stage in
tests/stages/test_sample_stage.py.
"""

from __future__ import annotations

import pytest

from gptlab.errors import ConfigError
from gptlab.generation import GenerationConfig
from gptlab.reporting.sample_report import SampleConfig
from tests.helpers import conf_section


def test_a_strategy_is_the_sections_length_and_seed_then_its_overrides():
    cfg = conf_section(
        SampleConfig, "sample", prompts="ROMEO:", max_new_tokens=30, seed=7,
        strategies={"greedy": {"strategy": "greedy"}, "beam": {"strategy": "beam", "max_new_tokens": 5}},
    )  # fmt: skip
    assert cfg.prompts == ("ROMEO:",)  # one prompt given as a string
    assert cfg.generation_configs() == {
        "greedy": GenerationConfig(strategy="greedy", max_new_tokens=30, seed=7),
        "beam": GenerationConfig(strategy="beam", max_new_tokens=5, seed=7),
    }


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"prompts": ()}, "sample.prompts must be a non-empty list of strings"),
        ({"prompts": ("a", {"b": 1})}, "sample.prompts must be a non-empty list of strings"),
        ({"strategies": {}}, "sample.strategies must map at least one name"),
        ({"strategies": {"greedy": "greedy"}}, "sample.strategies.greedy must be a mapping"),
    ],
)
def test_bad_sections_are_one_line_naming_the_key(kwargs, needle):
    with pytest.raises(ConfigError, match=needle) as info:
        conf_section(SampleConfig, "sample", **kwargs)
    assert "\n" not in str(info.value)


def test_bad_strategy_settings_name_the_strategy():
    with pytest.raises(ConfigError, match="unknown key.*sample.strategies.greedy"):
        conf_section(SampleConfig, "sample", strategies={"greedy": {"strategy": "greedy", "topk": 3}}).generation_configs()
