"""Stage ``train``: fit the GPT on the built dataset (Lightning), tracked in MLflow.

    python -m gptlab.train
    python -m gptlab.train experiment=smoke trainer.devices=2 trainer.strategy=ddp trainer.accelerator=cpu
    python -m gptlab.train train.resume=last

Writes checkpoints under ``artifacts/train/``, the model directory ``artifacts/model/``,
``reports/train.json`` (metrics) and ``reports/plots/*_loss.csv`` (plots).
"""

from __future__ import annotations

import logging
from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import PathsConfig, to_dataclass
from gptlab.config.sections import plain

log = logging.getLogger("gptlab.train")


def fit_settings(cfg: Any):
    from gptlab.dataset import load_meta
    from gptlab.model import GPTConfig
    from gptlab.training.config import LoggerConfig, OptimConfig, TrainConfig, TrainerConfig
    from gptlab.training.fit import FitSettings

    paths = to_dataclass(PathsConfig, cfg.paths, "paths")
    meta = load_meta(paths.dataset_meta)
    return FitSettings(
        paths=paths,
        model=to_dataclass(GPTConfig, cfg.model, "model", vocab_size=meta.vocab_size),
        trainer=to_dataclass(TrainerConfig, cfg.trainer, "trainer"),
        optim=to_dataclass(OptimConfig, cfg.optim, "optim"),
        train=to_dataclass(TrainConfig, cfg.train, "train"),
        logger=to_dataclass(LoggerConfig, cfg.logger, "logger"),
        seed=int(cfg.seed),
        resolved_config=plain(cfg),
    )


def run(cfg: Any) -> dict:
    from gptlab.training.fit import fit

    return fit(fit_settings(cfg))


def main() -> None:
    hydra_entry(run)


if __name__ == "__main__":
    main()
