"""Stage ``evaluate``: score the model on the whole val and test splits.

    python -m gptlab.evaluate
    python -m gptlab.evaluate evaluate.stride=32 evaluate.batch_size=64
    python -m gptlab.evaluate evaluate.model_dir=PATH     # another model, same dataset

Writes ``reports/metrics.json`` and ``reports/plots/loss.png``, also logged to the model's
MLflow training run.
"""

from __future__ import annotations

from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import PathsConfig, to_dataclass


def run(cfg: Any) -> dict:
    from gptlab.evaluation import EvalConfig
    from gptlab.evaluation.model_report import evaluate_model
    from gptlab.tracking import LoggerConfig

    paths = to_dataclass(PathsConfig, cfg.paths, "paths")
    eval_cfg = to_dataclass(EvalConfig, cfg.evaluate, "evaluate")
    logger_cfg = to_dataclass(LoggerConfig, cfg.logger, "logger")
    return evaluate_model(paths, eval_cfg, logger_cfg)


def main() -> None:
    hydra_entry(run)


if __name__ == "__main__":
    main()
