"""The config tree composes in every group option, and params.yaml matches conf/."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gptlab.config import PathsConfig, to_dataclass
from gptlab.errors import ConfigError
from gptlab.params import compose_params
from tests.config.conf_sections import REQUIRED_OVERRIDES, SECTIONS
from tests.helpers import CONF, REPO, compose

GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir())


def test_required_groups_exist():
    """conf/config.yaml's defaults list picks every group the stages read, and each option it
    picks is a file of its group (an optional group, ``null``, is a folder all the same)."""
    entries = yaml.safe_load((CONF / "config.yaml").read_text())["defaults"]
    chosen = {group: option for entry in entries if isinstance(entry, dict) for group, option in entry.items()}
    assert {"data", "tokenizer", "model", "trainer", "optim", "train", "logger", "sample", "experiment"} <= set(chosen)
    for group, option in chosen.items():
        assert (CONF / group).is_dir(), f"conf/{group}/ is missing"
        if option is not None:
            assert (CONF / group / f"{option}.yaml").is_file(), f"{group}={option}: conf/{group}/{option}.yaml is missing"


@pytest.mark.parametrize(
    "override",
    [f"{group}={p.stem}" for group in GROUPS for p in sorted((CONF / group).glob("*.yaml"))],
)
def test_every_group_option_composes(override):
    # The final seed-model presets take optim.lr from the Hydra run's model choice.
    extra = ("optim.lr=0.001", "optim.min_lr=0.0001") if override.endswith("_final") else ()
    cfg = compose(override, *REQUIRED_OVERRIDES, *extra)
    # Every option must leave every section fully typed: each section's dataclass builds
    # (no key missing, none unknown; the dataclasses have no defaults of their own).
    for section in SECTIONS:
        if section.config_name == "config":
            section.build(cfg)
    if cfg.model.kind == "gpt":
        assert cfg.model.n_embd % cfg.model.n_head == 0


def test_params_yaml_matches_conf():
    """Fails when conf/ changes without `python -m gptlab.params` being rerun."""
    committed = yaml.safe_load((REPO / "params.yaml").read_text())
    composed = yaml.safe_load(compose_params(config_dir=CONF))
    assert committed == composed, "params.yaml is stale: run `python -m gptlab.params`"


def test_params_compose_like_dvc(tmp_path: Path):
    """gptlab.params composes exactly as DVC's Hydra composition does."""
    from dvc.utils.hydra import compose_and_dump

    out = tmp_path / "params.yaml"
    compose_and_dump(out, str(CONF), None, "config", str(REPO), ["experiment=smoke"])
    assert yaml.safe_load(out.read_text()) == yaml.safe_load(
        compose_params(["experiment=smoke"], config_dir=CONF)
    )


def test_unknown_key_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown key.*'paths'.*valid keys"):
        to_dataclass(PathsConfig, {"raw_dri": "x"}, "paths")


@pytest.mark.parametrize("preset", [p.stem for p in sorted((CONF / "experiment").glob("*.yaml"))])
def test_experiment_preset_lists_only_differences(preset: str):
    """Every group and value an experiment preset sets changes the composed config.

    A value is compared with the config composed from the preset's group choices alone,
    so a preset that picks ``model=gpt_mini`` must not repeat what gpt_mini already says.
    """
    from omegaconf import OmegaConf

    def leaves(node: dict, prefix: str = ""):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    def plain(value):
        return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value

    default_groups = {
        group: option
        for entry in yaml.safe_load((CONF / "config.yaml").read_text())["defaults"]
        if isinstance(entry, dict)
        for group, option in entry.items()
    }
    body = yaml.safe_load((CONF / "experiment" / f"{preset}.yaml").read_text())
    parents = [e for e in body.get("defaults", []) if isinstance(e, str) and e != "_self_"]
    restated = []
    groups = []
    for entry in body.pop("defaults", []):
        if isinstance(entry, str):  # _self_, or another preset this one extends
            if entry != "_self_":
                groups.append(f"experiment={entry}")
            continue
        ((key, option),) = entry.items()
        group = key.removeprefix("override ").lstrip("/")
        groups.append(f"{group}={option}")
        if default_groups.get(group) == option and not parents:  # a parent preset may have changed it
            restated.append(f"{group}={option} (the default option)")
    with_preset = compose(f"experiment={preset}")
    without_values = compose(*groups)
    for key, value in leaves(body):
        if key.startswith("hydra."):  # Hydra's own settings (a preset's sweep) are not composed here
            continue
        if value == "???" or (isinstance(value, str) and "${" in value):  # wiring filled in at run time
            continue
        assert plain(OmegaConf.select(with_preset, key)) == value, f"{key} is not what {preset}.yaml sets"
        if plain(OmegaConf.select(without_values, key)) == value:
            restated.append(f"{key}={value}")
    assert not restated, f"{preset}.yaml restates: {', '.join(restated)}"


def test_cpu_recipe_preset_is_the_specified_recipe():
    # The recipe BENCHMARKS.md measures; editing the preset should be a visible decision.
    c = compose("experiment=shakespeare_char_cpu")
    assert (c.data.source, c.tokenizer.kind) == ("url", "char")
    assert (c.data.split.train, c.data.split.val, c.data.split.test) == (0.9, 0.1, 0.0)
    m = c.model
    assert (m.n_layer, m.n_head, m.n_embd, m.context_size, m.dropout, m.bias) == (4, 4, 128, 64, 0.0, False)
    assert m.pos_encoding == "rope"
    assert (c.train.batch_size, c.trainer.max_steps, c.trainer.gradient_clip_val) == (12, 2000, 1.0)
    o = c.optim
    assert (o.lr, o.min_lr, o.warmup_steps, list(o.betas), o.weight_decay) == (1e-3, 1e-4, 100, [0.9, 0.99], 0.1)


def test_gpu_recipe_preset_is_nanogpts():
    c = compose("experiment=shakespeare_char_gpu")
    m = c.model
    assert (m.n_layer, m.n_head, m.n_embd, m.context_size, m.dropout) == (6, 6, 384, 256, 0.2)
    assert (c.train.batch_size, c.trainer.max_steps) == (64, 2000)  # not 5,000: nanoGPT's schedule overfits
    assert (c.trainer.precision, c.trainer.compile) == ("bf16-mixed", True)


def test_the_readme_lists_every_option_of_the_groups_it_tables():
    """README "Configuration": each group row names exactly the options conf/<group>/ holds."""
    import re

    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", (REPO / "README.md").read_text(encoding="utf-8"), flags=re.M)
    tabled = {group: set(re.findall(r"`(\w+)`", options)) for group, options in rows if group in GROUPS}
    assert {"model", "logger", "experiment", "train"} <= set(tabled)
    for group, options in tabled.items():
        assert options == {p.stem for p in (CONF / group).glob("*.yaml")}, group
