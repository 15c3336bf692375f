"""Stage ``export``: the trained model as a Hugging Face directory, logged to its MLflow run as ``hf/``.

    python -m gptlab.export                                        # artifacts/model -> artifacts/hf
    python -m gptlab.export export.model_dir=PATH export.out_dir=OUT
"""

from __future__ import annotations

from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import to_dataclass


def run(cfg: Any) -> dict:
    from gptlab.hf.config import ExportConfig
    from gptlab.hf.stage import export_model
    from gptlab.tracking import LoggerConfig

    export_cfg = to_dataclass(ExportConfig, cfg.export, "export")
    logger_cfg = to_dataclass(LoggerConfig, cfg.logger, "logger")
    return export_model(export_cfg, logger_cfg)


def main() -> None:
    hydra_entry(run)


if __name__ == "__main__":
    main()
