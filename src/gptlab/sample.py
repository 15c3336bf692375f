"""Stage ``sample``: seeded completions of fixed prompts with several decoding strategies.

    python -m gptlab.sample
    python -m gptlab.sample sample.max_new_tokens=100 'sample.prompts=["To be"]'

Writes ``reports/samples.md`` and ``reports/plots/attention.png``, also logged to the
model's MLflow training run (config: conf/sample/default.yaml).
"""

from __future__ import annotations

from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import PathsConfig, to_dataclass
from gptlab.reporting.attention_picture import AttentionPlotConfig
from gptlab.reporting.sample_report import SampleConfig, sample_report
from gptlab.tracking import LoggerConfig


def run(cfg: Any) -> dict[str, list[list[str]]]:
    """Strategy name -> completions per prompt, as written to samples.md."""
    paths = to_dataclass(PathsConfig, cfg.paths, "paths")
    sample_cfg = to_dataclass(SampleConfig, cfg.sample, "sample")
    attention_cfg = to_dataclass(AttentionPlotConfig, sample_cfg.attention, "sample.attention")
    logger_cfg = to_dataclass(LoggerConfig, cfg.logger, "logger")
    return sample_report(paths, sample_cfg, attention_cfg, logger_cfg)


def main() -> None:
    hydra_entry(run)


if __name__ == "__main__":
    main()
