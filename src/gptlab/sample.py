"""Stage ``sample``: seeded completions of fixed prompts with several decoding strategies.

    python -m gptlab.sample
    python -m gptlab.sample sample.max_new_tokens=100 'sample.prompts=["To be"]'

Config: ``sample:`` (conf/sample/default.yaml): ``prompts``, ``max_new_tokens``,
``seed``, ``strategies`` (name -> overrides of :class:`gptlab.generation.GenerationConfig`;
a strategy may override ``max_new_tokens`` and ``seed`` too), ``device`` and
``attention`` (``out``, ``max_tokens``).

Writes ``reports/samples.md`` (a section per prompt, a block per strategy with its
settings) and ``reports/plots/attention.png`` (the attention maps over the first
prompt followed by the first strategy's completion of it); both are logged to the
model's MLflow training run (``samples/`` and ``plots/``). Prompt ``i`` is sampled
with seed ``seed + i`` on a fixed device (the CPU by default), so ``dvc repro`` rewrites
the same bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import PathsConfig, to_dataclass
from gptlab.errors import ConfigError

log = logging.getLogger("gptlab.sample")

SAMPLES_FILE = "samples.md"


@dataclass(frozen=True)
class SampleConfig:
    prompts: tuple[str, ...] = ("\n",)
    max_new_tokens: int = 300
    seed: int = 1337
    strategies: Mapping[str, Any] = field(default_factory=lambda: {"greedy": {"strategy": "greedy"}})
    device: str = "cpu"  # GPU kernels differ from CPU ones: keep one device for reproducible files
    attention: Mapping[str, Any] = field(default_factory=dict)

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

    def generation_configs(self) -> dict[str, Any]:
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


def run(cfg: Any) -> dict:
    from gptlab.attention import AttentionPlotConfig
    from gptlab.training.config import LoggerConfig

    paths = to_dataclass(PathsConfig, cfg.paths, "paths")
    sample_cfg = to_dataclass(SampleConfig, cfg.sample, "sample")
    attention_cfg = to_dataclass(AttentionPlotConfig, sample_cfg.attention, "sample.attention")
    logger_cfg = to_dataclass(LoggerConfig, cfg.logger, "logger")
    return sample(paths, sample_cfg, attention_cfg, logger_cfg)


def sample(paths: PathsConfig, sample_cfg: SampleConfig, attention_cfg: Any, logger_cfg: Any) -> dict:
    """Generate, write samples.md and the attention picture, log both; return the texts."""
    from gptlab.attention import attention_picture, describe_model
    from gptlab.checkpoint import load_model_dir
    from gptlab.evaluation import resolve_device, training_run
    from gptlab.generation import generate
    from gptlab.io import atomic_write_text
    from gptlab.reporting.samples_md import StrategySamples, describe_generation, render_samples

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
    picture = attention_picture(
        loaded, sample_cfg.prompts[0] + first.completions[0][0], attention_cfg, device
    )
    log.info("wrote %s", picture)

    run_link = training_run(loaded.info, logger_cfg)
    if run_link is not None:
        run_link.log_artifact(out, "samples")
        run_link.log_artifact(Path(picture), "plots")
        log.info("logged to MLflow run %s", run_link.run_id)
    return {r.name: r.completions for r in results}


def main() -> None:
    hydra_entry(run)


if __name__ == "__main__":
    main()
