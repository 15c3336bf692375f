"""Train a GPT on the ``build`` stage's dataset with Lightning, tracked in MLflow: :func:`fit`
is the recipe behind ``python -m gptlab.train``, each step a named function."""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gptlab.config import PathsConfig
from gptlab.dataset import DatasetMeta, load_meta
from gptlab.errors import TrainingInterrupted
from gptlab.io import atomic_write_json
from gptlab.model import GPTConfig
from gptlab.tracking import LoggerConfig, TrackingStore
from gptlab.training.config import OptimConfig, TrainConfig, TrainerConfig
from gptlab.training.lineage import Lineage, training_lineage
from gptlab.model.lora import lora_summary, parameter_counts
from gptlab.training.lora import check_lora_settings
from gptlab.training.lora import check_resume as check_resume_lora
from gptlab.training.resume import checkpoint_dir, read_checkpoint, resolve_resume
from gptlab.training.trainer_build import FitCallbacks

log = logging.getLogger(__name__)

RUN_FILE = "run.json"


@dataclass(frozen=True)
class FitSettings:
    paths: PathsConfig
    model: GPTConfig
    trainer: TrainerConfig
    optim: OptimConfig
    train: TrainConfig
    logger: LoggerConfig
    seed: int = 1337
    # The whole resolved config, logged to MLflow as params and as a YAML artifact.
    resolved_config: dict = field(default_factory=dict)
    # Extra MLflow tags from the caller (sweep id, DVC experiment name, ...).
    tags: dict = field(default_factory=dict)


def fit(settings: FitSettings) -> dict:
    """Train; return the numbers written to ``reports/train.json`` ({} on ranks > 0)."""
    paths = settings.paths
    check_lora_settings(settings.train.lora, settings.train.init_from)
    meta = load_meta(paths.dataset_meta)
    lineage = training_lineage(paths, meta, settings.model, settings.resolved_config, settings.train.init_from)
    resume = resolve_resume(settings.train.resume, paths)
    start_step = 0  # where this launch starts: a resumed run records the steps it trained
    if resume is not None:
        ckpt = read_checkpoint(resume, settings.model, lineage)
        check_resume_lora(ckpt, settings.train.lora, resume)
        start_step = int(ckpt.get("global_step", 0))
    store = checked_store(settings.logger)  # a store that cannot work fails here, in one line

    import lightning as L

    from gptlab.tokenizer import load_tokenizer
    from gptlab.training.init_from import start_from_pretrained
    from gptlab.training.module import GPTLightningModule
    from gptlab.training.progress_samples import ProgressSamples
    from gptlab.training.trainer_build import build_callbacks, build_trainer

    # Lightning's own console handler already prints its messages; without this,
    # Hydra's root handler would print each one twice.
    logging.getLogger("lightning.pytorch").propagate = False
    skip_collection_at_exit()
    L.seed_everything(settings.seed, workers=True, verbose=False)
    # Opening the run (seconds of Python) overlaps the model and data set-up; it is joined
    # before the trainer is built, so what MLflow refuses is one line before training.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gptlab-tracking-setup") as pool:
        opening = pool.submit(open_tracked_run, store, settings, meta, lineage, resume) if opens_run(store) else None
        module = GPTLightningModule(
            settings.model, settings.optim, settings.trainer.max_steps, compile=settings.trainer.compile,
            lineage=lineage.to_dict(), lora=settings.train.lora,
        )  # fmt: skip
        start_from_pretrained(module.model, settings.train.init_from, resume)
        module.add_lora()  # train.lora.r: adapters on the pretrained weights, the rest frozen
        samples = ProgressSamples(
            load_tokenizer(paths.tokenizer_json), settings.train.sample_prompt, settings.train.sample_max_new_tokens,
            settings.seed,
        )  # fmt: skip
        callbacks = build_callbacks(
            settings.trainer, settings.train, checkpoint_dir(paths), Path(paths.reports_dir) / "plots",
            module.model.flops_per_token(), samples,
        )  # fmt: skip
        datamodule = build_datamodule(settings, meta)
        logger = samples.logger = mlflow_logger(store, opening)
    trainer = build_trainer(settings.trainer, callbacks, logger, Path(paths.train_dir))
    callbacks.throughput.tokens_per_step = (
        settings.train.batch_size * settings.model.context_size * trainer.world_size
        * settings.trainer.accumulate_grad_batches
    )  # fmt: skip
    if trainer.is_global_zero:
        start_run_files(settings, module, logger, meta)

    with monitored(settings.logger, logger if trainer.is_global_zero else None, resume):
        wall_s = run_training(trainer, module, datamodule, resume, logger, callbacks)
    if not trainer.is_global_zero:
        return {}
    report = training_report(trainer, module, callbacks, wall_s, start_step)
    finish_run(settings, module, callbacks, lineage, meta, logger, report)
    return report


def skip_collection_at_exit() -> None:
    """Freeze the heap at interpreter exit: CPython's last collection would walk the millions
    of objects a fit leaves (1.2-1.7 s of a smoke run, BENCHMARKS.md). From ``atexit``, once,
    so an in-process caller such as a sweep keeps a working collector."""
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


def checked_store(logger: LoggerConfig) -> TrackingStore | None:
    """The run's store after its quick checks (a missing directory, a file that is not
    SQLite, a server that does not answer raise here, at once); None when tracking is off."""
    if not logger.enabled:
        return None
    store = TrackingStore(logger.tracking_uri)
    store.check_usable()
    return store


def opens_run(store: TrackingStore | None) -> bool:
    """Only a launch's rank 0 opens a run (Lightning read the rank from the launcher's
    environment when it was imported); other ranks get a logger that logs nothing."""
    from lightning.pytorch.utilities import rank_zero_only

    return store is not None and rank_zero_only.rank == 0


def open_tracked_run(store: TrackingStore, settings: FitSettings, meta: DatasetMeta, lineage: Lineage,
                     resume: Path | None) -> Any:  # fmt: skip
    """The set-up thread's work: the experiment and the run (a resumed run continues the
    MLflow run recorded in ``run.json``)."""
    from gptlab.tracking.training_logger import open_run

    run_file = Path(settings.paths.train_dir) / RUN_FILE
    run_id = json.loads(run_file.read_text()).get("run_id") if resume is not None and run_file.is_file() else None
    tags = {
        "corpus_sha256": lineage.corpus_sha256,
        "tokenizer_sha256": lineage.tokenizer_sha256,
        "tokenizer_kind": meta.tokenizer_kind,
        "config_sha256": lineage.config_sha256,
        **settings.tags,
    }
    run_name = settings.logger.run_name or default_run_name(settings.model, meta.tokenizer_kind)
    return open_run(store, settings.logger.experiment_name, run_name, run_id, tags)


def mlflow_logger(store: TrackingStore | None, opening: Future | None) -> Any:
    """The Lightning logger on the run being opened (waits for it; raises its error), made
    here in the calling thread; None when tracking is off."""
    from gptlab.tracking.outbox import OUTBOX_DIR, Outbox
    from gptlab.tracking.training_logger import MlflowRunLogger
    from gptlab.tracking.uri import project_root

    if store is None:
        return None
    if opening is None:
        return MlflowRunLogger(store, None, None)
    opened = opening.result()
    return MlflowRunLogger(store, opened, Outbox(store.client, store.uri, project_root() / OUTBOX_DIR))


def monitored(logger_cfg: LoggerConfig, logger: Any, resume: Path | None) -> Any:
    """MLflow's system-metrics monitor on rank 0's run for a ``with`` body (a no-op without one)."""
    if logger is None or logger.run_id is None or not logger_cfg.system_metrics_interval_s:
        return contextlib.nullcontext()
    from gptlab.tracking.system_metrics import system_metrics

    interval_s = logger_cfg.system_metrics_interval_s
    return system_metrics(logger.store.uri, logger.run_id, interval_s, resumed=resume is not None)


def default_run_name(model: GPTConfig, tokenizer_kind: str) -> str:
    return f"{tokenizer_kind}-{model.describe()}-{time.strftime('%Y%m%d-%H%M%S')}"


def build_datamodule(settings: FitSettings, meta: DatasetMeta) -> Any:
    from gptlab.training.data import DataSettings, TokenDataModule

    data = DataSettings(
        processed_dir=str(settings.paths.processed_dir),
        context_size=settings.model.context_size,
        batch_size=settings.train.batch_size,
        val_batches=settings.trainer.limit_val_batches,
        seed=settings.seed,
        num_workers=settings.train.num_workers,
    )
    return TokenDataModule(data, meta)


def model_summary(model: Any) -> str:
    """One line: shape, parameters and training FLOPs per token (what MFU is based on)."""
    return (
        f"model: {model.config.summary()}: {parameter_counts(model)[1] / 1e6:.2f}M parameters, "
        f"{model.flops_per_token() / 1e6:.1f} MFLOPs per training token"
    )


def start_run_files(settings: FitSettings, module: Any, logger: Any, meta: DatasetMeta) -> None:
    """Rank 0, before training: the model line, the run's config and dataset splits in
    MLflow, ``run.json``."""
    from gptlab.tracking.datasets import training_dataset_records
    from gptlab.tracking.training_logger import log_config

    log.info("%s", model_summary(module.model))
    if module.lora is not None:
        log.info("%s", lora_summary(module.model, module.lora))
    train_dir = Path(settings.paths.train_dir)
    train_dir.mkdir(parents=True, exist_ok=True)
    if logger is not None:
        log_config(logger, settings.resolved_config)
        logger.experiment.log_datasets(logger.run_id, training_dataset_records(meta, settings.paths.processed_dir))
        record = {"run_id": logger.run_id, "tracking_uri": logger.store.redacted}
        atomic_write_json(train_dir / RUN_FILE, record)


def run_training(trainer: Any, module: Any, datamodule: Any, resume: Path | None, logger: Any,
                 callbacks: FitCallbacks) -> float:  # fmt: skip
    """``trainer.fit``, then one last validation if the final step had none; the wall time."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    t0 = time.perf_counter()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume) if resume else None)
    except SystemExit as exc:
        # Lightning marks the MLflow run FAILED first (Ctrl-C is SystemExit(1), SIGTERM a
        # SIGTERMException); stopped is not failed, and resuming finishes the same run.
        if logger is not None and trainer.is_global_zero:
            logger.finalize("KILLED")
        if isinstance(exc, SIGTERMException):
            # Its status is 0: a scheduler or `dvc repro` would take it for a finished run.
            raise TrainingInterrupted(
                f"training stopped by SIGTERM at step {trainer.global_step}; resume with train.resume=last"
            ) from None
        raise
    # The steps after the last log step were never checked: before the model directory.
    module.raise_if_diverged()
    history = callbacks.history
    last_val_step = history.val[-1][0] if history.val else -1
    if last_val_step != trainer.global_step:
        trainer.validate(module, datamodule=datamodule, verbose=False)
    return time.perf_counter() - t0


def training_report(trainer: Any, module: Any, callbacks: FitCallbacks, wall_s: float, start_step: int = 0) -> dict:
    """The numbers of ``reports/train.json``, and the model config that trained."""
    val_loss = float(trainer.callback_metrics["val/loss"])
    best = callbacks.checkpoint.best_model_score
    tail = [v for _, v in callbacks.history.train[-10:]]
    tp = callbacks.throughput
    return {
        "val_loss": val_loss,
        "best_val_loss": float(best) if best is not None else val_loss,
        "train_loss": sum(tail) / len(tail) if tail else module.read_train_loss(),  # no log step: the last loss
        "steps": int(trainer.global_step),
        "steps_this_launch": int(trainer.global_step) - start_step,
        "tokens_seen": int(trainer.global_step * tp.tokens_per_step),
        "tokens_per_s": tp.tokens_per_s or (trainer.global_step * tp.tokens_per_step / wall_s),
        "wall_s": wall_s,
        "mfu": tp.mfu,
        # Both count every weight tensor once (a tied one once), the position embedding too.
        "params": parameter_counts(module.model)[1],
        "trainable_params": parameter_counts(module.model)[0],
        "world_size": trainer.world_size,
        "model": module.model.config.to_dict(),
    }


def finish_run(settings: FitSettings, module: Any, callbacks: FitCallbacks, lineage: Lineage, meta: DatasetMeta,
               logger: Any, report: dict) -> None:  # fmt: skip
    """Rank 0, after training: loss CSVs, the model directory, ``train.json`` and the MLflow
    artifacts (publishing the model is the publish stage's)."""
    from gptlab.reporting.loss_plot import plot_loss_curves
    from gptlab.tracking.training_logger import log_training_artifacts
    from gptlab.training.model_export import best_weights, export_model_dir

    paths = settings.paths
    history = callbacks.history
    history.write()
    plot = plot_loss_curves(history.train, history.val, Path(paths.reports_dir) / "plots" / "train_loss.png")
    best = best_weights(settings.model, callbacks.checkpoint.best_model_path, module.model, module.lora)
    export_model_dir(best, paths, lineage, meta, report, logger.run_id if logger is not None else None,
                     module.lora, settings.train.init_from)  # fmt: skip
    atomic_write_json(Path(paths.reports_dir) / "train.json", report)
    if logger is not None:
        logger.experiment.log_metric(logger.run_id, "model/params", report["params"], step=0)
        logger.experiment.log_metric(logger.run_id, "model/trainable_params", report["trainable_params"], step=0)
        # A resumed run's params keep its first launch's trainer.max_steps: these say what trained.
        for key, steps in (("trained_steps", report["steps"]), ("trained_steps_this_launch", report["steps_this_launch"])):
            logger.experiment.log_metric(logger.run_id, key, steps, step=report["steps"])
        log_training_artifacts(logger, plot, paths.model_dir, paths.tokenizer_json)
        logger.finalize("success")
        # A bounded wait for the queued writes; what is not sent is kept for gptlab.track.
        logger.close()
    log.info(
        "done: val_loss=%.4f train_loss=%.4f steps=%d tokens/s=%.0f -> %s",
        report["val_loss"], report["train_loss"], report["steps"], report["tokens_per_s"], paths.model_dir,
    )  # fmt: skip
