"""The ``sample`` stage's report: seeded completions of fixed prompts per decoding strategy
and the attention picture of the first, logged to the training run. Prompt ``i`` uses seed
``seed + i`` on a fixed device, so ``dvc repro`` rewrites the same bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gptlab.config import PathsConfig, to_dataclass
from gptlab.errors import ConfigError
from gptlab.reporting.attention_picture import AttentionPlotConfig
from gptlab.tracking.config import LoggerConfig

if TYPE_CHECKING:
    from gptlab.generation import GenerationConfig

log = logging.getLogger(__name__)

SAMPLES_FILE = "samples.md"


@dataclass(frozen=True)
class SampleConfig:
    """The ``sample`` section (conf/sample/default.yaml, which owns the defaults)."""

    prompts: tuple[str, ...]
    max_new_tokens: int
    seed: int
    strategies: dict[str, Any]
    device: str  # GPU kernels differ from CPU ones: keep one device for reproducible files
    attention: dict[str, Any]  # AttentionPlotConfig's keys

    def __post_init__(self) -> None:
        prompts = (self.prompts,) if isinstance(self.prompts, str) else tuple(self.prompts)
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise ConfigError(f"sample.prompts must be a non-empty list of strings, got {self.prompts!r}")
        object.__setattr__(self, "prompts", prompts)
        if not isinstance(self.strategies, Mapping) or not self.strategies:
            raise ConfigError("sample.strategies must map at least one name to generation settings")
        for name, overrides in self.strategies.items():
            if not isinstance(overrides, Mapping):
                raise ConfigError(f"sample.strategies.{name} must be a mapping of generation settings")

    def generation_configs(self) -> dict[str, GenerationConfig]:
        """Name -> ``GenerationConfig``: the section's max_new_tokens and seed, then the strategy's overrides."""
        from gptlab.generation import GenerationConfig

        return {
            name: to_dataclass(
                GenerationConfig,
                {"max_new_tokens": self.max_new_tokens, "seed": self.seed, **overrides},
                f"sample.strategies.{name}",
            )
            for name, overrides in self.strategies.items()
        }


def sample_report(
    paths: PathsConfig, sample_cfg: SampleConfig, attention_cfg: AttentionPlotConfig, logger_cfg: LoggerConfig
) -> dict[str, list[list[str]]]:
    """Generate, write samples.md and the attention picture, log both; strategy -> completions."""
    from gptlab.checkpoint import load_model_dir
    from gptlab.generation import generate
    from gptlab.io import atomic_write_text
    from gptlab.reporting.attention_picture import describe_model, sample_stage_picture
    from gptlab.reporting.samples_md import StrategySamples, describe_generation, render_samples
    from gptlab.runtime import resolve_device
    from gptlab.tracking import training_run

    gen_cfgs = sample_cfg.generation_configs()  # bad settings fail before the model loads
    device = resolve_device(sample_cfg.device)
    loaded = load_model_dir(paths.model_dir, device=device)
    results = []
    for name, gen_cfg in gen_cfgs.items():
        log.info("%s: %s", name, ", ".join(f"{k}={v}" for k, v in describe_generation(gen_cfg).items()))
        completions = generate(loaded.model, loaded.tokenizer, list(sample_cfg.prompts), gen_cfg)
        results.append(StrategySamples(name, describe_generation(gen_cfg), completions))

    run_id = (loaded.info.get("mlflow") or {}).get("run_id")
    about = [f"model: {describe_model(loaded)} (`{paths.model_dir}`)"]
    if run_id:
        about.append(f"MLflow training run: `{run_id}`")
    about.append(f"prompt *i* is sampled with seed `seed + i`; device: `{device}`")
    out = paths.report(SAMPLES_FILE)
    atomic_write_text(out, render_samples(sample_cfg.prompts, results, about))
    log.info("wrote %s", out)

    first = results[0]
    picture = sample_stage_picture(
        loaded, sample_cfg.prompts[0] + first.completions[0][0], attention_cfg, device
    )
    log.info("wrote %s", picture)

    run_link = training_run(loaded.info, logger_cfg)
    if run_link is not None:
        run_link.log_artifact(out, "samples")
        run_link.log_artifact(Path(picture), "plots")
        log.info("logged to MLflow run %s", run_link.run_id)
    return {r.name: r.completions for r in results}
