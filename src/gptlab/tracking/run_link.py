"""Attach evaluation results to the MLflow run that trained the model (its id is in the
model directory), or skip MLflow with a log line saying why."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptlab.tracking.config import LoggerConfig
from gptlab.tracking.store import TrackingStore

log = logging.getLogger(__name__)


@dataclass
class TrainingRun:
    store: TrackingStore
    run_id: str

    @property
    def client(self) -> Any:
        """The store's MLflow client."""
        return self.store.client

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        finite = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
        skipped = sorted(set(metrics) - set(finite))
        if skipped:
            log.warning("not logging non-finite metric(s) to MLflow: %s", ", ".join(skipped))
        if finite:
            self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in finite.items()])

    def log_series(self, key: str, values: list[float]) -> None:
        """``values[i]`` as metric ``key`` at step ``i``: a curve over something other than time."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(key, float(v), now, i) for i, v in enumerate(values)])

    def log_artifact(self, path: str | Path, artifact_path: str) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)


def training_run(info: dict, logger_cfg: LoggerConfig) -> TrainingRun | None:
    """The training run of the model whose ``config.json`` is ``info``, or None to skip MLflow."""
    if not logger_cfg.enabled:
        log.info("MLflow logging is off (logger.enabled=false)")
        return None
    run_id = (info.get("mlflow") or {}).get("run_id")
    if not run_id:
        log.warning("the model records no MLflow run (it was trained with logging off): results not logged to MLflow")
        return None

    from mlflow.exceptions import MlflowException

    store = TrackingStore(logger_cfg.tracking_uri)
    store.check_usable()
    if not store.exists():
        # Opening a missing sqlite store would create an empty one; it cannot hold the run.
        log.warning("MLflow store %s does not exist: results not logged to MLflow", store.redacted)
        return None
    try:
        store.client.get_run(run_id)
    except MlflowException:
        # The results are in the report files either way: another machine's store should not fail the stage.
        log.warning("MLflow run %s (the model's training run) is not in %s: results not logged to MLflow", run_id,
                    store.redacted)  # fmt: skip
        return None
    return TrainingRun(store, run_id)
