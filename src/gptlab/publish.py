"""Stage ``publish``: the evaluated model into MLflow's Model Registry.

    python -m gptlab.publish
    python -m gptlab.publish logger.registered_model_name=my-model

Logs ``artifacts/model`` to its training run as the pyfunc model ``runs:/<run id>/model``,
registers it as a new version of ``logger.registered_model_name`` and moves the
``champion`` alias to it only if its whole-split validation bits per character
(``reports/metrics.json``: run ``evaluate`` first) are lower than the champion's.
Writes ``reports/publish.json``. With tracking off, or for a model trained without it,
nothing is published and ``publish.json`` says so. See :mod:`gptlab.serving.publish`.
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
