"""The ``export`` stage's routine: export the model directory, log it to its training run."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from gptlab.hf.config import ExportConfig
from gptlab.tracking import LoggerConfig

log = logging.getLogger(__name__)

ARTIFACT_PATH = "hf"  # where the Hugging Face directory goes in the MLflow run


def export_model(cfg: ExportConfig, logger_cfg: LoggerConfig) -> dict:
    """Write ``cfg.out_dir`` from ``cfg.model_dir``; MLflow gets it as the run's ``hf/``."""
    from gptlab.checkpoint.model_dir import read_model_info
    from gptlab.hf.export import CONFIG, export_hf_dir
    from gptlab.tracking import training_run

    out = export_hf_dir(cfg.model_dir, cfg.out_dir)
    hf_config = json.loads((out / CONFIG).read_text(encoding="utf-8"))
    summary = {
        "out_dir": str(out),
        "architecture": hf_config["architectures"][0],
        "files": sorted(p.name for p in Path(out).iterdir()),
    }
    run_link = training_run(read_model_info(cfg.model_dir), logger_cfg)
    if run_link is not None:
        run_link.client.log_artifacts(run_link.run_id, str(out), ARTIFACT_PATH)
        log.info("logged %s to MLflow run %s as %s/", out, run_link.run_id, ARTIFACT_PATH)
    return summary
