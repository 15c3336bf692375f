"""Stage ``publish``: the evaluated model into MLflow's Model Registry.

    python -m gptlab.publish
    python -m gptlab.publish logger.registered_model_name=my-model

A new version of ``logger.registered_model_name``; the ``champion`` alias moves to it only
if its validation bits/char (``reports/metrics.json``) beat the champion's. Writes
``reports/publish.json``, which says so when tracking is off and nothing is published.
"""

from __future__ import annotations

from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import PathsConfig, to_dataclass


def run(cfg: Any) -> dict:
    from omegaconf import OmegaConf, open_dict

    from gptlab.serving.publish import publish_model, recorded_data
    from gptlab.tracking import LoggerConfig

    paths = to_dataclass(PathsConfig, cfg.paths, "paths")
    with open_dict(cfg):
        for key, value in recorded_data(paths.model_dir).items():
            OmegaConf.update(cfg, key, value)  # the data the model trained on names it
    logger_cfg = to_dataclass(LoggerConfig, cfg.logger, "logger")
    return publish_model(paths, logger_cfg)


def main() -> None:
    hydra_entry(run)


if __name__ == "__main__":
    main()
