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
    # The MLflow registered model each training run gets a version of (null: off).
    registered_model_name: str | None
    # Seconds between samples of MLflow's system-metrics monitor; null or 0: not monitored.
    system_metrics_interval_s: float | None
