"""Train a GPT on the ``build`` stage's dataset with Lightning, tracked in MLflow.

This is the library function behind ``python -m gptlab.train``: it takes typed
settings, and writes checkpoints, the model directory and the training reports.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gptlab.config import PathsConfig
from gptlab.errors import CheckpointError, ConfigError, DataError, TrainingInterrupted
from gptlab.io import atomic_write_json, sha256_file
from gptlab.model import GPTConfig
from gptlab.training.config import LoggerConfig, OptimConfig, TrainConfig, TrainerConfig

log = logging.getLogger("gptlab.train")

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


def checkpoint_dir(paths: PathsConfig) -> Path:
    return Path(paths.train_dir) / "checkpoints"


def resolve_resume(resume: str | None, paths: PathsConfig) -> Path | None:
    """``None`` | ``"last"`` | a path -> the checkpoint to resume from, or None."""
    if not resume:
        return None
    if resume == "last":
        last = checkpoint_dir(paths) / "last.ckpt"
        if last.is_file():
            log.info("resuming from %s", last)
            return last
        log.warning("train.resume=last: no checkpoint in %s, starting from scratch", checkpoint_dir(paths))
        return None
    path = Path(resume)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {resume}")
    return path


def config_sha256(resolved: dict) -> str:
    """A hash of what determines the trained model: the config minus where things are
    written and how they are tracked (paths, logger, resume), so moving a run does not
    change it."""
    import hashlib

    keep = {k: v for k, v in resolved.items() if k not in ("paths", "logger", "hydra")}
    if isinstance(keep.get("train"), dict):
        keep["train"] = {k: v for k, v in keep["train"].items() if k != "resume"}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()


def read_checkpoint(path: Path, model: GPTConfig, lineage: dict | None = None) -> dict:
    """Open a Lightning checkpoint of *this run's own directory* and check it fits.

    Lightning checkpoints are pickles: only resume from files you wrote yourself. Model
    directories for sharing are safetensors (see gptlab.checkpoint).
    """
    try:
        # weights_only: tensors and plain containers only, never arbitrary objects.
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to unpickle means a bad file
        # torch's own message advises weights_only=False, which is exactly what not to do
        # with a file that fails to load: name the error type only.
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt and was not loaded ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a gptlab training checkpoint")
    saved = (ckpt.get("hyper_parameters") or {}).get("model")
    if saved is not None and saved != model.to_dict():
        diff = sorted(k for k in set(saved) | set(model.to_dict()) if saved.get(k) != model.to_dict().get(k))
        detail = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs config {model.to_dict().get(k)!r}" for k in diff)
        raise CheckpointError(f"checkpoint {path} is from a different model config ({detail})")
    saved_lineage = (ckpt.get("hyper_parameters") or {}).get("lineage") or {}
    for key in ("tokenizer_sha256", "corpus_sha256"):
        if lineage and saved_lineage.get(key) and saved_lineage[key] != lineage.get(key):
            what = key.split("_")[0]
            raise CheckpointError(
                f"checkpoint {path} was trained on a different {what} ({key} {saved_lineage[key][:12]}… vs "
                f"{lineage.get(key, '')[:12]}… now): resuming would continue on other data"
            )
    return ckpt


def check_lineage(paths: PathsConfig, meta: Any) -> str:
    """The tokenizer on disk must be the one the dataset was encoded with."""
    tok = paths.tokenizer_json
    if not tok.is_file():
        raise DataError(f"tokenizer not found: {tok} (run the tokenize stage: dvc repro tokenize)")
    digest = sha256_file(tok)
    if digest != meta.tokenizer_sha256:
        raise DataError(
            f"{tok} is not the tokenizer {paths.dataset_meta} was built with (sha256 differs): "
            "rebuild the dataset (dvc repro build)"
        )
    return digest


def default_run_name(s: FitSettings, tokenizer_kind: str) -> str:
    m = s.model
    return f"{tokenizer_kind}-L{m.n_layer}H{m.n_head}E{m.n_embd}-T{m.context_size}-{time.strftime('%Y%m%d-%H%M%S')}"


def model_summary(model: Any) -> str:
    """One line: shape, parameters and training FLOPs per token (what MFU is based on)."""
    c = model.config
    return (
        f"model: n_layer={c.n_layer} n_head={c.n_head} n_embd={c.n_embd} context_size={c.context_size} "
        f"pos_encoding={c.pos_encoding} vocab_size={c.vocab_size}: {model.num_params() / 1e6:.2f}M parameters, "
        f"{model.flops_per_token() / 1e6:.1f} MFLOPs per training token"
    )


def fit(s: FitSettings) -> dict:
    """Train; return the numbers written to ``reports/train.json``."""
    import lightning as L
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from gptlab.dataset import load_meta
    from gptlab.training.callbacks import (
        InterruptCheckpoint,
        LossHistory,
        PeriodicSample,
        RNGState,
        StepProgressBar,
        Throughput,
    )
    from gptlab.training.data import DataSettings, TokenDataModule
    from gptlab.training.module import GPTLightningModule
    from gptlab.training.tracking import check_tracking_uri, git_state, make_mlflow_logger, prepare_store, redact_uri

    # Lightning's own console handler already prints its messages; without this,
    # Hydra's root handler would print each one twice.
    logging.getLogger("lightning.pytorch").propagate = False

    paths = s.paths
    meta = load_meta(paths.dataset_meta)
    tokenizer_sha = check_lineage(paths, meta)
    if s.model.vocab_size != meta.vocab_size:
        raise ConfigError(f"model vocab_size {s.model.vocab_size} != dataset vocab_size {meta.vocab_size}")
    for split in ("train", "val"):
        if meta.tokens.get(split, 0) < s.model.context_size + 2:
            raise DataError(
                f"the {split} split has {meta.tokens.get(split, 0):,} tokens, fewer than one window of "
                f"model.context_size={s.model.context_size} (+1): lower model.context_size or use a larger corpus"
            )

    lineage = {
        "corpus_sha256": meta.corpus_sha256,
        "tokenizer_sha256": tokenizer_sha,
        "config_sha256": config_sha256(s.resolved_config),
    }
    resume = resolve_resume(s.train.resume, paths)
    if resume is not None:
        read_checkpoint(resume, s.model, lineage)

    L.seed_everything(s.seed, workers=True, verbose=False)
    train_dir = Path(paths.train_dir)
    run_file = train_dir / RUN_FILE
    run_id = None
    if resume is not None and run_file.is_file():
        run_id = json.loads(run_file.read_text()).get("run_id")

    from gptlab.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(paths.tokenizer_json)
    logger = None
    if s.logger.enabled:
        check_tracking_uri(s.logger.tracking_uri)
        prepare_store(s.logger.tracking_uri, s.logger.experiment_name)
        tags = {
            **git_state(),
            "corpus_sha256": meta.corpus_sha256,
            "tokenizer_sha256": tokenizer_sha,
            "tokenizer_kind": meta.tokenizer_kind,
            "config_sha256": lineage["config_sha256"],
            **s.tags,
        }
        logger = make_mlflow_logger(
            s.logger.tracking_uri,
            s.logger.experiment_name,
            s.logger.run_name or default_run_name(s, meta.tokenizer_kind),
            run_id,
            tags,
        )

    module = GPTLightningModule(s.model, s.optim, s.trainer.max_steps, compile=s.trainer.compile, lineage=lineage)
    dm = TokenDataModule(
        DataSettings(
            processed_dir=str(paths.processed_dir),
            context_size=s.model.context_size,
            batch_size=s.train.batch_size,
            val_batches=s.trainer.limit_val_batches,
            seed=s.seed,
            num_workers=s.train.num_workers,
        ),
        meta,
    )

    throughput = Throughput(tokens_per_step=0, flops_per_token=module.model.flops_per_token())
    history = LossHistory(Path(paths.reports_dir) / "plots", every=s.trainer.log_every_n_steps)
    samples: list[tuple[int, str]] = []

    def make_sample(model: torch.nn.Module) -> str:
        from gptlab.generation import GenerationConfig, generate

        cfg = GenerationConfig(strategy="sample", max_new_tokens=s.train.sample_max_new_tokens, temperature=0.8, seed=s.seed)
        was_training = model.training
        try:
            return generate(model, tokenizer, [s.train.sample_prompt], cfg)[0][0]
        finally:
            model.train(was_training)

    def keep_sample(step: int, text: str) -> None:
        samples.append((step, text))
        log.info("sample at step %d:\n%s%s", step, s.train.sample_prompt, text)
        if logger is not None:
            logger.experiment.log_text(logger.run_id, s.train.sample_prompt + text, f"samples/step_{step:06d}.txt")

    ckpt_cb = ModelCheckpoint(
        dirpath=checkpoint_dir(paths),
        filename="best",
        monitor="val/loss",
        mode="min",
        save_top_k=1,
        save_last=True,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    # Redrawing the bar every step costs ~15% of a small model's step time on a CPU.
    bar = [StepProgressBar(refresh_rate=20)] if s.trainer.enable_progress_bar else []
    callbacks = [
        ckpt_cb,
        *bar,
        throughput,
        history,
        RNGState(),
        InterruptCheckpoint(checkpoint_dir(paths) / "last.ckpt"),
        PeriodicSample(s.train.sample_every_n_val, make_sample, keep_sample),
        *_extra_callbacks(s.train.extra_callbacks),
    ]
    _check_devices(s.trainer)

    try:
        trainer = L.Trainer(
            **s.trainer.trainer_kwargs(),
            logger=logger if logger is not None else False,
            callbacks=callbacks,
            default_root_dir=str(train_dir),
        )
    except (MisconfigurationException, ValueError, RuntimeError) as exc:
        raise ConfigError(f"bad trainer settings: {exc}") from None

    throughput.tokens_per_step = (
        s.train.batch_size * s.model.context_size * trainer.world_size * s.trainer.accumulate_grad_batches
    )

    if trainer.is_global_zero:
        log.info("%s", model_summary(module.model))
        train_dir.mkdir(parents=True, exist_ok=True)
        if logger is not None:
            _log_config(logger, s.resolved_config)
            atomic_write_json(run_file, {"run_id": logger.run_id, "tracking_uri": redact_uri(s.logger.tracking_uri)})
    t0 = time.perf_counter()
    try:
        trainer.fit(module, datamodule=dm, ckpt_path=str(resume) if resume else None)
    except SystemExit as exc:
        # Lightning turns Ctrl-C into SystemExit(1) and SIGTERM into SIGTERMException
        # after marking the MLflow run FAILED; stopped is not failed, so say KILLED
        # (resuming continues the same run and finishes it).
        if logger is not None and trainer.is_global_zero:
            logger.finalize("KILLED")
        if isinstance(exc, SIGTERMException):
            # A SystemExit without a code, i.e. status 0: a scheduler or `dvc repro`
            # would take the stopped run for a finished one.
            raise TrainingInterrupted(
                f"training stopped by SIGTERM at step {trainer.global_step}; resume with train.resume=last"
            ) from None
        raise
    last_val_step = history.val[-1][0] if history.val else -1
    if last_val_step != trainer.global_step:
        trainer.validate(module, datamodule=dm, verbose=False)
    wall_s = time.perf_counter() - t0

    if not trainer.is_global_zero:
        return {}

    val_loss = float(trainer.callback_metrics["val/loss"])
    tail = [v for _, v in history.train[-10:]]
    report = {
        "val_loss": val_loss,
        "best_val_loss": float(ckpt_cb.best_model_score) if ckpt_cb.best_model_score is not None else val_loss,
        "train_loss": sum(tail) / len(tail) if tail else float(trainer.callback_metrics.get("train/loss", float("nan"))),
        "steps": int(trainer.global_step),
        "tokens_seen": int(trainer.global_step * throughput.tokens_per_step),
        "tokens_per_s": throughput.tokens_per_s or (trainer.global_step * throughput.tokens_per_step / wall_s),
        "wall_s": wall_s,
        "mfu": throughput.mfu,
        "params": module.model.num_params(),
        "world_size": trainer.world_size,
    }
    history.write()
    _export(s, module, ckpt_cb.best_model_path, lineage, meta, logger, report, samples)
    atomic_write_json(Path(paths.reports_dir) / "train.json", report)
    if logger is not None:
        logger.experiment.log_metric(logger.run_id, "model/params", report["params"], step=0)
        _log_artifacts(logger, s, history)
        logger.finalize("success")
    log.info(
        "done: val_loss=%.4f train_loss=%.4f steps=%d tokens/s=%.0f -> %s",
        report["val_loss"], report["train_loss"], report["steps"], report["tokens_per_s"], paths.model_dir,
    )
    return report


def _extra_callbacks(specs: tuple) -> list:
    """User callbacks from config: ``train.extra_callbacks=[{_target_: pkg.Cls, arg: 1}]``."""
    if not specs:
        return []
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    out = []
    for spec in specs:
        try:
            out.append(instantiate(dict(spec)))
        except InstantiationException as exc:
            raise ConfigError(f"train.extra_callbacks: cannot instantiate {spec}: {exc}") from None
    return out


def _check_devices(t: Any) -> None:
    """More CPU processes than cores is legal for Lightning but never what anyone wants."""
    import os

    if str(t.accelerator) == "cpu" and isinstance(t.devices, int) and t.devices > (os.cpu_count() or 1):
        raise ConfigError(f"trainer.devices={t.devices} but this machine has {os.cpu_count()} CPU cores")


def _log_config(logger: Any, resolved: dict) -> None:
    import yaml

    from gptlab.training.tracking import flatten, redact_uri

    params = {k: v for k, v in flatten(resolved).items() if k != "train.resume"}
    if "logger.tracking_uri" in params:
        params["logger.tracking_uri"] = redact_uri(str(params["logger.tracking_uri"]))
    # MLflow params are write-once. A resumed run keeps its original params; settings
    # that changed on resume (e.g. a longer max_steps) are recorded as tags instead.
    logged = logger.experiment.get_run(logger.run_id).data.params
    changed = {k: v for k, v in params.items() if k in logged and logged[k] != str(v)}
    for key, value in changed.items():
        logger.experiment.set_tag(logger.run_id, f"resumed_with.{key}", str(value))
    logger.log_hyperparams({k: v for k, v in params.items() if k not in logged})
    safe = json.loads(json.dumps(resolved))
    if isinstance(safe.get("logger"), dict) and "tracking_uri" in safe["logger"]:
        safe["logger"]["tracking_uri"] = redact_uri(str(safe["logger"]["tracking_uri"]))
    logger.experiment.log_text(logger.run_id, yaml.safe_dump(safe, sort_keys=False), "config.yaml")


def _export(s: FitSettings, module: Any, best_path: str, lineage: dict, meta: Any, logger: Any, report: dict, samples) -> None:
    """The model directory, from the best checkpoint's weights (else the final ones)."""
    from gptlab.checkpoint import save_model_dir
    from gptlab.model import GPT

    model = GPT(s.model)
    if best_path and Path(best_path).is_file():
        state = torch.load(best_path, map_location="cpu", weights_only=True)["state_dict"]
        state = {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
        model.load_state_dict(GPT.clean_state_dict(state))
    else:
        model.load_state_dict(module.model.state_dict())
    extra = {
        "lineage": {
            **lineage,
            "dataset_vocab_size": meta.vocab_size,
            "tokenizer_kind": meta.tokenizer_kind,
        },
        "training": {"steps": report["steps"], "val_loss": report["val_loss"], "best_val_loss": report["best_val_loss"]},
        "mlflow": {"run_id": logger.run_id if logger is not None else None},
    }
    save_model_dir(model, s.paths.tokenizer_json, s.paths.model_dir, extra)


def _log_artifacts(logger: Any, s: FitSettings, history: Any) -> None:
    from gptlab.reporting.loss_plot import plot_loss_curves

    client, run_id = logger.experiment, logger.run_id
    plot = Path(s.paths.reports_dir) / "plots" / "train_loss.png"
    plot_loss_curves(history.train, history.val, plot)
    client.log_artifact(run_id, str(plot), "plots")
    client.log_artifacts(run_id, str(s.paths.model_dir), "model")
    client.log_artifact(run_id, str(s.paths.tokenizer_json), "tokenizer")
