"""Stage ``train``: fit the GPT on the built dataset (Lightning), tracked in MLflow.

    python -m gptlab.train
    python -m gptlab.train experiment=smoke trainer.devices=2 trainer.strategy=ddp trainer.accelerator=cpu
    python -m gptlab.train train.resume=last
    python -m gptlab.train -m model.n_layer=2,4 optim.lr=1e-3,3e-4      # a sweep: one MLflow run per job
    python -m gptlab.train hparams_search=optuna                        # Optuna minimises val_loss

Writes checkpoints under ``artifacts/train/``, the model directory ``artifacts/model/``,
``reports/train.json`` (metrics) and ``reports/plots/*_loss.csv`` (plots). In a sweep,
those go under each job's directory (``multirun/train/<time>/<job>/``) instead, and
every run is tagged with the sweep's id; each job then scores the whole validation split
(``eval/val_loss``, ``eval/val_bits_per_char``), so the runs rank without another step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import PathsConfig, to_dataclass
from gptlab.config.sections import plain

log = logging.getLogger("gptlab.train")


def sweep_job() -> tuple[Path, dict[str, str]] | None:
    """This job's output directory and tags, when running inside a Hydra sweep."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except (ImportError, ValueError):
        return None
    if hc.mode != RunMode.MULTIRUN:
        return None
    out = Path(hc.runtime.output_dir)
    return out, {"sweep_id": str(hc.sweep.dir), "sweep_job": str(hc.job.num)}


def job_paths(paths: PathsConfig, job_dir: Path) -> PathsConfig:
    """A sweep job's own train/model/report directories; the data stays shared."""
    return dataclasses.replace(
        paths,
        train_dir=str(job_dir / "train"),
        model_dir=str(job_dir / "model"),
        reports_dir=str(job_dir / "reports"),
    )


def relaunch_argv_for_job(paths: PathsConfig) -> None:
    """Make DDP's worker processes run *this job*, not the whole sweep again.

    Lightning starts ranks > 0 by re-running ``sys.argv``; inside a sweep that holds
    ``-m`` and the sweep lists, so each worker would start a sweep of its own (a known
    failure of Hydra + Lightning). Rewrite it to this job's overrides and directories.
    """
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    argv = sys.argv
    keep: list[str] = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in ("--config-dir", "--config-name", "--config-path", "-cd", "-cn", "-cp") and i + 1 < len(argv):
            keep += [a, argv[i + 1]]
            i += 2
            continue
        if a.startswith(("--config-dir=", "--config-name=", "--config-path=")):
            keep.append(a)
        i += 1
    task = [o for o in hc.overrides.task if not o.startswith(("paths.train_dir", "paths.model_dir", "paths.reports_dir"))]
    sys.argv = [
        argv[0],
        *keep,
        *task,
        f"paths.train_dir={paths.train_dir}",
        f"paths.model_dir={paths.model_dir}",
        f"paths.reports_dir={paths.reports_dir}",
    ]


_DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "RANK", "GROUP_RANK")


@contextlib.contextmanager
def isolated_distributed_state():
    """Undo what a DDP fit leaves behind, so the next job of a sweep starts clean.

    Lightning sets rank variables in ``os.environ`` and keeps the process group; the
    next job in the same process would then believe it is an already-launched worker
    and wait for peers that never come.
    """
    before = {k: os.environ.get(k) for k in _DDP_ENV}
    try:
        yield
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def fit_settings(cfg: Any):
    from gptlab.dataset import load_meta
    from gptlab.model import GPTConfig
    from gptlab.training.config import LoggerConfig, OptimConfig, TrainConfig, TrainerConfig
    from gptlab.training.fit import FitSettings
    from gptlab.training.tracking import resolve_tracking_uri

    paths = to_dataclass(PathsConfig, cfg.paths, "paths")
    tags: dict[str, str] = {}
    job = sweep_job()
    if job is not None:
        paths = job_paths(paths, job[0])
        tags.update(job[1])
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_exp_name"] = os.environ["DVC_EXP_NAME"]
    meta = load_meta(paths.dataset_meta)
    logger = to_dataclass(LoggerConfig, cfg.logger, "logger")
    logger = dataclasses.replace(logger, tracking_uri=resolve_tracking_uri(logger.tracking_uri))
    return FitSettings(
        paths=paths,
        model=to_dataclass(GPTConfig, cfg.model, "model", vocab_size=meta.vocab_size),
        trainer=to_dataclass(TrainerConfig, cfg.trainer, "trainer"),
        optim=to_dataclass(OptimConfig, cfg.optim, "optim"),
        train=to_dataclass(TrainConfig, cfg.train, "train"),
        logger=logger,
        seed=int(cfg.seed),
        resolved_config=plain(cfg),
        tags=tags,
    )


def run(cfg: Any) -> Any:
    """Train; return the report, or the ``optimized_metric`` value for a sweeper."""
    from gptlab.errors import ConfigError
    from gptlab.training.fit import fit

    settings = fit_settings(cfg)
    if sweep_job() is not None and settings.trainer.strategy.startswith(("ddp", "fsdp")):
        relaunch_argv_for_job(settings.paths)
        with isolated_distributed_state():
            report = fit(settings)
    else:
        report = fit(settings)
    if report and sweep_job() is not None:
        report.update(evaluate_job(settings, cfg))
    metric = cfg.get("optimized_metric")
    if metric:
        if not report:  # a non-zero rank: the sweeper only reads rank 0's value
            return None
        if metric not in report:
            raise ConfigError(f"optimized_metric={metric!r} is not in the report; choose one of {', '.join(report)}")
        return float(report[metric])
    return report


def evaluate_job(settings: Any, cfg: Any) -> dict:
    """Score the whole validation split right after a sweep job trains, so the sweep's
    runs rank by ``eval/val_loss`` and ``eval/val_bits_per_char`` without another step
    (written to the job's ``reports/metrics.json`` and to its MLflow run)."""
    from gptlab.evaluate import evaluate
    from gptlab.evaluation import EvalConfig

    eval_cfg = to_dataclass(EvalConfig, cfg.evaluate, "evaluate")
    eval_cfg = dataclasses.replace(eval_cfg, model_dir=settings.paths.model_dir, splits=("val",))
    val = evaluate(settings.paths, eval_cfg, settings.logger, progress=False).get("val", {})
    # Prefixed: the training report's own val_loss (fixed windows) must stay what it is.
    return {f"eval_val_{key}": value for key, value in val.items() if key in ("loss", "bits_per_char", "perplexity")}


def main() -> None:
    import warnings

    # Lightning's own pytree helper trips a torch deprecation on every run; nothing a user
    # can act on, so it is silenced here, at the CLI edge, by its exact text.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)
    hydra_entry(run)


if __name__ == "__main__":
    main()
