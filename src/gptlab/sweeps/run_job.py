"""One training job of a sweep, and the value its sweeper optimises."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from gptlab.errors import ConfigError
from gptlab.sweeps.job import SweepJob, job_paths
from gptlab.tracking.config import LoggerConfig

if TYPE_CHECKING:  # the training stack loads when a job runs, not when Hydra loads the sweep callback
    from gptlab.evaluation.config import EvalConfig
    from gptlab.training.fit import FitSettings


def train_sweep_job(settings: FitSettings, job: SweepJob, eval_cfg: EvalConfig) -> dict:
    """Train in the job's own directories, score ``evaluate.splits`` (always the whole
    validation split, so runs rank by ``eval/val_loss`` without another step) and publish
    as the publish stage would. A search's preset scores validation alone
    (``evaluate.splits=[val]``): what it tunes on."""
    from gptlab.serving.publish import publish_model
    from gptlab.sweeps.ddp import ddp_job
    from gptlab.training.fit import fit

    paths = job_paths(settings.paths, job.out_dir)
    settings = dataclasses.replace(
        settings, paths=paths, tags={**settings.tags, **job.tags}, logger=child_logger(settings.logger, job)
    )
    if settings.trainer.strategy.startswith(("ddp", "fsdp")):
        with ddp_job(job, paths):
            report = fit(settings)
    else:
        report = fit(settings)
    if report:  # rank 0 only
        report.update(evaluate_job(settings, eval_cfg))
        publish_model(settings.paths, settings.logger)
    return report


def child_logger(logger: LoggerConfig, job: SweepJob) -> LoggerConfig:
    """The job's run named after the swept values, after ``logger.run_name``; unique in the sweep."""
    if not logger.enabled or job.parent is None:
        return logger
    from gptlab.sweeps.parent_run import unique_child_name
    from gptlab.tracking import TrackingStore

    name = unique_child_name(TrackingStore(logger.tracking_uri).client, job.parent, job.run_name, job.num)
    return dataclasses.replace(logger, run_name=f"{logger.run_name} {name}" if logger.run_name else name)


def evaluate_job(settings: FitSettings, eval_cfg: EvalConfig) -> dict:
    from gptlab.evaluation.model_report import evaluate_model

    splits = ("val", *(s for s in eval_cfg.splits if s != "val"))
    eval_cfg = dataclasses.replace(eval_cfg, model_dir=settings.paths.model_dir, splits=splits)
    scored = evaluate_model(settings.paths, eval_cfg, settings.logger, progress=False)
    # Prefixed: the training report's own val_loss (fixed windows) must stay what it is.
    return {
        f"eval_{split}_{key}": value
        for split, values in scored.items()
        for key, value in values.items()
        if key in ("loss", "bits_per_char", "perplexity")
    }


def optimized_value(report: dict, metric: str | None) -> float | dict | None:
    """What the train CLI returns to Hydra: ``report[metric]`` for a sweeper, else the report."""
    if not metric:
        return report
    if not report:  # a non-zero rank: the sweeper only reads rank 0's value
        return None
    if metric not in report:
        raise ConfigError(f"optimized_metric={metric!r} is not in the report; choose one of {', '.join(report)}")
    return float(report[metric])
