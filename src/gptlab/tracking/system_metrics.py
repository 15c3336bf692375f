"""System metrics of a training run: MLflow's own monitor (``system/...`` metrics), which runs
created through the client do not start; imported by the fit only for a monitored run (it loads MLflow)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

from gptlab.tracking.store import HTTP_WORST_REQUEST_S

log = logging.getLogger(__name__)

END_WAIT_S = HTTP_WORST_REQUEST_S


class CountingMonitor(SystemMetricsMonitor):
    """MLflow's monitor, counting the samples it logs (its own counter is private)."""

    published = 0

    def publish_metrics(self, metrics: dict) -> None:
        super().publish_metrics(metrics)
        self.published += 1


def start_system_metrics(tracking_uri: str, run_id: str | None, interval_s: float | None,
                         resumed: bool = False) -> CountingMonitor | None:  # fmt: skip
    """A started monitor for ``run_id``; None when off (no run, interval null or 0)."""
    if not run_id or not interval_s or interval_s <= 0:
        return None
    monitor = CountingMonitor(
        run_id, sampling_interval=float(interval_s), samples_before_logging=1,
        resume_logging=resumed,  # a resumed run continues its system/* steps
        tracking_uri=tracking_uri,
    )  # fmt: skip
    monitor.start()
    return monitor


@contextlib.contextmanager
def system_metrics(tracking_uri: str, run_id: str | None, interval_s: float | None,
                   resumed: bool = False) -> Iterator[CountingMonitor | None]:  # fmt: skip
    """Monitor the ``with`` body; stop and flush at its end, however it ends."""
    monitor = start_system_metrics(tracking_uri, run_id, interval_s, resumed)
    try:
        yield monitor
    finally:
        stop_system_metrics(monitor)


def stop_system_metrics(monitor: CountingMonitor | None) -> None:
    """Stop ``monitor`` (if any), last sample included, waiting at most :data:`END_WAIT_S` for the server."""
    if monitor is None:
        return
    stopper = threading.Thread(target=_stop, args=(monitor,), name="gptlab-system-metrics-stop", daemon=True)
    stopper.start()
    stopper.join(END_WAIT_S)
    if stopper.is_alive():
        log.warning("system metrics: the tracking server did not answer within %.0f s; the last samples "
                    "were not logged", END_WAIT_S)  # fmt: skip


def _stop(monitor: CountingMonitor) -> None:
    # MLflow's monitor drops the sample it is collecting when stopped: a short run gets one taken now.
    monitor.finish()
    if monitor.published:
        return
    try:
        monitor.collect_metrics()
        monitor.publish_metrics(monitor.aggregate_metrics())
        monitor.mlflow_logger.flush()
    except Exception as exc:  # noqa: BLE001 - metrics are best effort, never fail the run
        log.warning("system metrics: the end-of-run sample was not logged (%s)", exc)
