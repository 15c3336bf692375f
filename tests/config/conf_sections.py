"""Every config section and the dataclass that receives it, for the config tests.

conf/ owns every default; the dataclasses declare types and validation. This table is
what test_config_defaults.py and test_conf_tree.py check that rule against, and
``test_every_to_dataclass_target_is_in_the_table`` keeps it complete.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any

from omegaconf import OmegaConf

from gptlab.config import to_dataclass
from gptlab.config.sections import plain
from tests.helpers import CONF

# Values the composed config leaves to the command line (``???`` or a required null).
REQUIRED_OVERRIDES = ("data.path=x.txt", "tokenizer.path=x")
VOCAB_SIZE = 65  # GPTConfig.vocab_size comes from the dataset, not from conf/


@dataclass(frozen=True)
class Section:
    target: str  # "module:Class"
    path: str  # dotted path in the composed config; "": top-level keys of conf/<config_name>.yaml
    config_name: str = "config"

    @property
    def cls(self) -> type:
        module, name = self.target.split(":")
        return getattr(importlib.import_module(module), name)

    @property
    def id(self) -> str:
        return f"{self.target.split(':')[1]}({self.config_name}.yaml:{self.path or 'top level'})"

    def values(self, cfg: Any) -> dict:
        """This section of the composed ``cfg`` as plain values."""
        if not self.path:
            own = OmegaConf.load(CONF / f"{self.config_name}.yaml")
            return {k: plain(cfg[k]) for k in own if k not in ("defaults", "hydra")}
        values = plain(OmegaConf.select(cfg, self.path))
        if self.path == "data":
            values.pop("split")  # SplitConfig's section
        return values

    def build(self, cfg: Any) -> Any:
        """The dataclass, built from ``cfg`` as the entry point that reads this section does."""
        cls, values = self.cls, self.values(cfg)
        if cls.__name__ == "GenerateSettings":
            return cls.from_section(values, self.path)
        if not self.path:
            names = {f.name for f in dataclasses.fields(cls)}
            return to_dataclass(cls, {k: v for k, v in values.items() if k in names}, self.config_name)
        if cls.__name__ == "GPTConfig":  # the model section: the config class of its kind
            from gptlab.model import parse_model_config

            return parse_model_config(values, self.path, vocab_size=VOCAB_SIZE)
        return to_dataclass(cls, values, self.path)


SECTIONS = (
    Section("gptlab.config:PathsConfig", "paths"),
    Section("gptlab.corpus:CorpusConfig", "data"),
    Section("gptlab.dataset:SplitConfig", "data.split"),
    Section("gptlab.dataset:BuildConfig", "build"),
    Section("gptlab.tokenizer:TokenizerConfig", "tokenizer"),
    Section("gptlab.model:GPTConfig", "model"),
    Section("gptlab.training.config:TrainerConfig", "trainer"),
    Section("gptlab.training.config:OptimConfig", "optim"),
    Section("gptlab.training.config:TrainConfig", "train"),
    Section("gptlab.model.lora:LoraConfig", "train.lora"),
    Section("gptlab.tracking.config:LoggerConfig", "logger"),
    Section("gptlab.evaluation.config:EvalConfig", "evaluate"),
    Section("gptlab.reporting.sample_report:SampleConfig", "sample"),
    Section("gptlab.reporting.attention_picture:AttentionPlotConfig", "sample.attention"),
    Section("gptlab.generation.console:GenerateSettings", "generate"),
    Section("gptlab.hf.config:ExportConfig", "export"),
    Section("gptlab.comparison:CompareSettings", "", "compare"),
    Section("gptlab.attention:AttentionCliConfig", "", "attention"),
    Section("gptlab.serving.server:ServeSettings", "", "serve"),
    Section("gptlab.tracking.server:UiSettings", "", "ui"),
    Section("gptlab.track:TrackConfig", "", "track"),
    Section("gptlab.team.settings:TeamConfig", "", "team"),  # the team stack (helper C, #22)
)

# Built by to_dataclass in src/ but not a section's receiver: GenerationConfig is a library
# value type whose defaults stand (sample.strategies override a few fields each; the
# `generate:` section restates them, held equal by a test); `cls` is GenerateSettings.
# SeedConfig types the main config's top-level `seed` for the train stage (a tool config's
# own `seed`, conf/generate.yaml's, is another key); tests/config/test_bad_values.py walks it.
NOT_SECTIONS = {"GenerationConfig", "cls", "SeedConfig"}
