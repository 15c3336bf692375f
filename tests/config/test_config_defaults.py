"""Each default has one owner: conf/. The dataclasses declare types and validation only.

(a) no dataclass field that is a key of its config section has a default of its own (so
a default added to a dataclass later fails here); (b) every config group option builds
every section's dataclass: test_conf_tree.py::test_every_group_option_composes, and the
CLI configs below; (c) the one restatement, `generate:` in conf/config.yaml, equals
GenerationConfig's defaults.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from gptlab.generation import GenerationConfig
from tests.config.conf_sections import NOT_SECTIONS, REQUIRED_OVERRIDES, SECTIONS, Section
from tests.helpers import CONF, REPO, compose, conf_values


def _options(group: str) -> list[str]:
    return [f"{group}={p.stem}" for p in sorted((CONF / group).glob("*.yaml"))]


def _compositions(section: Section) -> list[tuple[str, ...]]:
    """The default composition, and one per option of the section's group (if it has one)."""
    group = section.path.split(".")[0]
    options = _options(group) if section.config_name == "config" and group and (CONF / group).is_dir() else []
    return [(), *((option,) for option in options)]


@pytest.mark.parametrize("section", [pytest.param(s, id=s.id) for s in SECTIONS])
def test_no_config_key_has_a_dataclass_default(section: Section):
    cls = section.cls
    keys: set[str] = set()
    for overrides in _compositions(section):
        keys |= set(section.values(compose(*overrides, *REQUIRED_OVERRIDES, config_name=section.config_name)))
    defaulted = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name in keys
        and (f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING)
    ]
    assert not defaulted, (
        f"{cls.__name__} declares a default for {', '.join(defaulted)}: conf/ owns it; "
        "remove the dataclass default (keep the type and the validation)"
    )


@pytest.mark.parametrize("config_name", ["compare", "attention", "serve", "generate", "ui", "track"])
def test_cli_configs_build_their_dataclasses(config_name: str):
    """The CLI configs: their own keys and the main config's sections, with no key missing."""
    cfg = compose(*REQUIRED_OVERRIDES, config_name=config_name)
    for section in SECTIONS:
        if section.config_name in ("config", config_name):
            section.build(cfg)


def test_every_to_dataclass_target_is_in_the_table():
    """A new config section must join SECTIONS, so the checks above cover it."""
    called = set()
    for path in (REPO / "src/gptlab").rglob("*.py"):
        called |= set(re.findall(r"to_dataclass\(\s*(\w+)", path.read_text(encoding="utf-8")))
    known = {s.target.split(":")[1] for s in SECTIONS}
    assert called - NOT_SECTIONS <= known, f"not in tests/config/conf_sections.py: {sorted(called - NOT_SECTIONS - known)}"


# `generate:` keys whose value is the console's own default, not GenerationConfig's.
CONSOLE_DEFAULTS = {"seed"}  # null: new text every run (GenerationConfig's 1337 is for reproducible reports)


def test_generate_section_restates_generation_config_defaults():
    """conf/config.yaml lists every decoding key so each can be overridden; they must stay
    GenerationConfig's defaults (its `decoding` is GenerationConfig's `strategy`)."""
    defaults = {f.name: f.default for f in dataclasses.fields(GenerationConfig)}
    section = conf_values("generate")
    compared = {}
    for key, value in section.items():
        name = "strategy" if key == "decoding" else key
        if name in defaults and key not in CONSOLE_DEFAULTS:
            compared[key] = (value, defaults[name])
    assert {"decoding", "max_new_tokens", "temperature", "num_beams", "cache_window"} <= set(compared)
    drifted = {k: v for k, v in compared.items() if v[0] != v[1]}
    assert not drifted, f"generate: in conf/config.yaml differs from GenerationConfig's defaults (conf, class): {drifted}"


def test_sample_strategies_state_only_what_differs_from_generation_config():
    """conf/sample/default.yaml's strategies override GenerationConfig; restating one of its
    defaults there would be a second owner of that default."""
    defaults = {f.name: f.default for f in dataclasses.fields(GenerationConfig)}
    restated = [
        f"{name}.{key}={value!r}"
        for name, overrides in conf_values("sample.strategies").items()
        for key, value in overrides.items()
        if key != "strategy" and key in defaults and value == defaults[key]
    ]
    assert not restated, f"conf/sample/default.yaml restates GenerationConfig's defaults: {', '.join(restated)}"
