"""The Hydra callback that makes a tracked train sweep one MLflow parent run with nested
children (the work is :mod:`gptlab.sweeps.parent_run`'s). Hydra skips
``on_multirun_end`` when a job failed, so the parent is also ended at exit.
"""

from __future__ import annotations

import atexit
import logging
from typing import Any

from hydra.experimental.callback import Callback

log = logging.getLogger(__name__)

# Hydra names the job after the stage's module (see hydra_entry): gptlab.train is "train".
STAGE = "train"


def _tracked_sweep(config: Any) -> bool:
    """A multirun of the train stage, with MLflow tracking on."""
    from hydra.types import RunMode

    hydra = config.get("hydra")
    logger = config.get("logger")
    return (
        hydra is not None
        and logger is not None
        and hydra.mode == RunMode.MULTIRUN
        and hydra.job.name == STAGE
        and bool(logger.get("enabled"))
    )


def _tracking_uri(config: Any) -> str:
    from gptlab.tracking import normalize_tracking_uri

    return normalize_tracking_uri(str(config.logger.tracking_uri))


def _class_name(node: Any) -> str:
    target = node.get("_target_") if node is not None else None
    return str(target).rsplit(".", 1)[-1] if target else ""


def sweep_plan(config: Any) -> Any:
    """The plain :class:`SweepPlan` of a sweep's composed config."""
    from omegaconf import OmegaConf

    from gptlab.sweeps.parent_run import DEFAULT_OBJECTIVE, SweepPlan

    hydra = config.hydra
    sweeper = hydra.get("sweeper")
    params = sweeper.get("params") if sweeper is not None else None
    direction = sweeper.get("direction") if sweeper is not None else None
    if OmegaConf.is_list(direction):  # a multi-objective Optuna study: the first objective
        direction = direction[0] if len(direction) else None
    return SweepPlan(
        tracking_uri=_tracking_uri(config),
        experiment_name=str(config.logger.experiment_name),
        sweep_dir=str(hydra.sweep.dir),
        overrides=tuple(str(o) for o in hydra.overrides.task),
        search_space={str(k): str(v) for k, v in (params or {}).items()},
        objective=str(config.get("optimized_metric") or DEFAULT_OBJECTIVE),
        direction=str(direction or "minimize").rsplit(".", 1)[-1].lower(),
        sweeper=_class_name(sweeper),
        launcher=_class_name(hydra.get("launcher")),
    )


class MlflowSweepCallback(Callback):
    """``hydra.callbacks.mlflow_sweep: {_target_: gptlab.sweeps.hydra_callback.MlflowSweepCallback}``."""

    def __init__(self) -> None:
        self._open: tuple[str, Any] | None = None  # (tracking URI, SweepParent) until ended

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        from gptlab.sweeps.parent_run import start_parent_run

        if not _tracked_sweep(config):
            return
        plan = sweep_plan(config)
        self._open = (plan.tracking_uri, start_parent_run(plan))
        atexit.register(self._end_on_exit)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        self._end(aborted=False)

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        from hydra.core.utils import JobStatus

        from gptlab.sweeps.parent_run import read_parent, record_job_result

        if not _tracked_sweep(config):
            return
        parent = read_parent(str(config.hydra.sweep.dir))
        if parent is None:
            return
        failed = job_return.status == JobStatus.FAILED
        result = None if failed else job_return.return_value
        try:
            record_job_result(_tracking_uri(config), parent, int(config.hydra.job.num), result, failed)
        except Exception as exc:  # the job's own outcome stands; say why the record is missing
            log.warning("sweep job %s: could not record its result in MLflow: %s", config.hydra.job.num, exc)

    def _end(self, aborted: bool) -> None:
        from gptlab.sweeps.parent_run import finish_parent_run

        if self._open is None:
            return
        uri, parent = self._open
        self._open = None
        atexit.unregister(self._end_on_exit)
        try:
            finish_parent_run(uri, parent, aborted=aborted)
        except Exception as exc:  # the jobs' own runs and results stand; say what is missing
            log.warning("could not end the sweep's MLflow parent run %s: %s", parent.run_id, exc)

    def _end_on_exit(self) -> None:
        self._end(aborted=True)
