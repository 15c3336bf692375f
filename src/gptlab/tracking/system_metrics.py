"""System metrics of a training run: MLflow's own monitor, in a thread beside the training.

``mlflow.system_metrics.SystemMetricsMonitor`` samples CPU utilisation, memory, disk and
network (``psutil``) and, where ``pynvml`` finds an NVIDIA GPU, GPU utilisation and
memory, every ``interval_s`` seconds, and logs them to the run as ``system/...`` metrics:
the run page's *System metrics* tab. Lightning's MLflow logger creates its run through
``MlflowClient``, which starts no monitor of its own, so the fit starts one here.

MLflow's environment variables win over the config: ``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL``
replaces the interval. The first values reach the run one interval after the start; a
run shorter than the interval gets one sample at its end.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)


def start_system_metrics(tracking_uri: str, run_id: str | None, interval_s: float | None,
                         resumed: bool = False) -> Any:  # fmt: skip
    """A started ``SystemMetricsMonitor`` for ``run_id``; None when off (no run, interval
    null or 0) or when MLflow's monitor cannot run here (``psutil`` missing)."""
    if not run_id or not interval_s or interval_s <= 0:
        return None
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
    except ImportError as exc:  # its CPU and disk monitors import psutil
        log.warning("system metrics not logged: MLflow's monitor needs psutil (%s); pip install psutil", exc)
        return None
    monitor = SystemMetricsMonitor(
        run_id,
        sampling_interval=float(interval_s),
        samples_before_logging=1,
        resume_logging=resumed,  # a resumed run continues its system/* steps
        tracking_uri=tracking_uri,
    )
    monitor.start()
    return monitor


@contextlib.contextmanager
def system_metrics(tracking_uri: str, run_id: str | None, interval_s: float | None,
                   resumed: bool = False) -> Iterator[Any]:  # fmt: skip
    """Monitor the ``with`` body; stop and flush at its end, however it ends."""
    monitor = start_system_metrics(tracking_uri, run_id, interval_s, resumed)
    first_step = getattr(monitor, "_logging_step", None)
    try:
        yield monitor
    finally:
        if monitor is not None:
            monitor.finish()
            _log_one_sample_if_none(monitor, first_step)


def _log_one_sample_if_none(monitor: Any, first_step: int | None) -> None:
    """A run shorter than the interval still gets one sample, taken at its end.

    MLflow's monitor drops the sample it is collecting when it is stopped mid-interval,
    so a short run would otherwise show an empty System metrics tab.
    """
    if first_step is None or getattr(monitor, "_logging_step", first_step) != first_step:
        return
    try:
        monitor.collect_metrics()
        monitor.publish_metrics(monitor.aggregate_metrics())
        monitor.mlflow_logger.flush()
    except Exception as exc:  # noqa: BLE001 - metrics are best effort, never fail the run
        log.warning("system metrics: the end-of-run sample was not logged (%s)", exc)
