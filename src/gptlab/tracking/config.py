"""Typed settings of the ``logger`` group: where and under which experiment runs are tracked."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoggerConfig:
    enabled: bool = True
    tracking_uri: str = "sqlite:///mlflow.db"
    experiment_name: str = "gptlab"
    run_name: str | None = None
