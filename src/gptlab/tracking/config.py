"""Typed settings of the ``logger`` group: where and under which experiment runs are tracked."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoggerConfig:
    """The ``logger`` section; conf/logger/*.yaml owns the defaults (none here)."""

    enabled: bool
    tracking_uri: str
    experiment_name: str
    run_name: str | None
    # Each training run registers a version of this MLflow registered model (null: off);
    # conf/logger/mlflow.yaml derives it from the data source and tokenizer kind.
    registered_model_name: str | None
    # Seconds between samples of MLflow's system-metrics monitor (CPU, memory, disk, GPU;
    # the run page's System metrics tab); null or 0: not monitored.
    system_metrics_interval_s: float | None
