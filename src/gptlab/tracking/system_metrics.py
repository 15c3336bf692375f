"""System metrics of a training run: MLflow's own monitor, in a thread beside the training.

``mlflow.system_metrics.SystemMetricsMonitor`` samples CPU utilisation, memory, disk and
network (``psutil``) and, where ``pynvml`` finds an NVIDIA GPU, GPU utilisation and
memory, every ``interval_s`` seconds, and logs them to the run as ``system/...`` metrics:
the run page's *System metrics* tab. gptlab creates its runs through MLflow's client,
which starts no monitor of its own, so the fit starts one here.

MLflow's environment variables win over the config: ``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL``
replaces the interval. The first values reach the run one interval after the start; a
run shorter than the interval gets one sample at its end. Stopping the monitor waits for
at most :data:`END_WAIT_S` (its last request, when the server has just gone away).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

from gptlab.tracking.store import HTTP_WORST_REQUEST_S

log = logging.getLogger(__name__)

END_WAIT_S = HTTP_WORST_REQUEST_S


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

    class CountingMonitor(SystemMetricsMonitor):
        """MLflow's monitor, counting the samples it logs (its own counter is private)."""

        published = 0

        def publish_metrics(self, metrics: dict) -> None:
            super().publish_metrics(metrics)
            self.published += 1

    monitor = CountingMonitor(
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
    try:
        yield monitor
    finally:
        stop_system_metrics(monitor)


def stop_system_metrics(monitor: Any) -> None:
    """Stop ``monitor`` (None: nothing to do), its last sample included, waiting at most
    :data:`END_WAIT_S`."""
    if monitor is None:
        return
    # In a daemon thread: a server that stopped answering costs at most END_WAIT_S.
    stopper = threading.Thread(target=_stop, args=(monitor,), name="gptlab-system-metrics-stop", daemon=True)
    stopper.start()
    stopper.join(END_WAIT_S)
    if stopper.is_alive():
        log.warning("system metrics: the tracking server did not answer within %.0f s; the last samples "
                    "were not logged", END_WAIT_S)  # fmt: skip


def _stop(monitor: Any) -> None:
    """Stop the monitor; a run shorter than the interval still gets one sample, taken now.

    MLflow's monitor drops the sample it is collecting when it is stopped mid-interval,
    so a short run would otherwise show an empty System metrics tab.
    """
    monitor.finish()
    if monitor.published:
        return
    try:
        monitor.collect_metrics()
        monitor.publish_metrics(monitor.aggregate_metrics())
        monitor.mlflow_logger.flush()
    except Exception as exc:  # noqa: BLE001 - metrics are best effort, never fail the run
        log.warning("system metrics: the end-of-run sample was not logged (%s)", exc)
