"""The training run's MLflow side: Lightning's logger, run tags, config and artifacts."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gptlab.tracking.uri import redact_uri


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"n_layer": 4}}`` -> ``{"model.n_layer": 4}`` (MLflow params)."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def git_state(cwd: str | Path = ".") -> dict[str, str]:
    """The commit and whether the work tree was dirty ("unknown" outside git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        return {"git_commit": commit, "git_dirty": str(bool(dirty)).lower()}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}


def make_mlflow_logger(tracking_uri: str, experiment_name: str, run_name: str, run_id: str | None, tags: dict):
    """Lightning's MLflow logger; ``run_id`` continues an existing run (resume)."""
    from lightning.pytorch.loggers import MLFlowLogger

    return MLFlowLogger(
        experiment_name=experiment_name,
        run_name=run_name,
        tracking_uri=tracking_uri,
        tags=tags,
        run_id=run_id,
        log_model=False,
    )


def _redacted_config(resolved: dict) -> dict:
    safe = json.loads(json.dumps(resolved))
    if isinstance(safe.get("logger"), dict) and "tracking_uri" in safe["logger"]:
        safe["logger"]["tracking_uri"] = redact_uri(str(safe["logger"]["tracking_uri"]))
    return safe


def log_config(logger: Any, resolved: dict) -> None:
    """The resolved config as params (flattened) and as ``config.yaml``, credentials redacted."""
    import yaml

    safe = _redacted_config(resolved)
    params = {k: v for k, v in flatten(safe).items() if k != "train.resume"}
    # MLflow params are write-once. A resumed run keeps its original params; settings
    # that changed on resume (e.g. a longer max_steps) are recorded as tags instead.
    logged = logger.experiment.get_run(logger.run_id).data.params
    changed = {k: v for k, v in params.items() if k in logged and logged[k] != str(v)}
    for key, value in changed.items():
        logger.experiment.set_tag(logger.run_id, f"resumed_with.{key}", str(value))
    logger.log_hyperparams({k: v for k, v in params.items() if k not in logged})
    logger.experiment.log_text(logger.run_id, yaml.safe_dump(safe, sort_keys=False), "config.yaml")


def log_training_artifacts(logger: Any, loss_plot: Path, model_dir: str | Path, tokenizer_json: Path) -> None:
    """The loss picture, the model directory and the tokenizer, next to the run's metrics."""
    client, run_id = logger.experiment, logger.run_id
    client.log_artifact(run_id, str(loss_plot), "plots")
    client.log_artifacts(run_id, str(model_dir), "model")
    client.log_artifact(run_id, str(tokenizer_json), "tokenizer")
