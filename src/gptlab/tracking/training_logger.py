"""The training run's MLflow side: a Lightning logger, tags, config, artifacts (imported after lightning)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

from gptlab.errors import GptlabError, StoreError
from gptlab.tracking.outbox import Outbox, first_line, is_outage
from gptlab.tracking.store import TrackingStore
from gptlab.tracking.uri import redact_uri

# Lightning's status words -> MLflow's run statuses.
RUN_STATUS = {"success": "FINISHED", "finished": "FINISHED", "failed": "FAILED"}
# Param values are cut here, as Lightning's MLflow logger did (MLflow itself takes 6000 characters).
MAX_PARAM = 250


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"n_layer": 4}}`` -> ``{"model.n_layer": 4}`` (MLflow params)."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def git_state(cwd: str | Path = ".") -> dict[str, str]:
    """The commit and whether the work tree was dirty ("unknown" outside git)."""
    try:
        git = {"cwd": cwd, "capture_output": True, "text": True, "timeout": 10, "check": True}
        commit = subprocess.run(["git", "rev-parse", "HEAD"], **git).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **git).stdout.strip()
        return {"git_commit": commit, "git_dirty": str(bool(dirty)).lower()}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}


@dataclass(frozen=True)
class OpenedRun:
    """An MLflow run ready for a training's writes."""

    experiment_id: str
    run_id: str
    # A resumed run's params as logged before (MLflow params are write-once); {} for a new run.
    logged_params: dict[str, str]


def open_run(store: TrackingStore, experiment_name: str, run_name: str, run_id: str | None,
             tags: dict[str, str]) -> OpenedRun:  # fmt: skip
    """The experiment (created if missing) and the run: a new one named ``run_name`` with ``tags`` (plus git
    state, MLflow's user and source), or ``run_id`` continued; what MLflow refuses is one StoreError line."""
    try:
        experiment_id = store.ensure_experiment(experiment_name)
        if run_id is None:
            from mlflow.tracking.context.registry import resolve_tags  # user, source, git commit

            run = store.client.create_run(experiment_id, run_name=run_name, tags=resolve_tags({**git_state(), **tags}))
            return OpenedRun(experiment_id, run.info.run_id, {})
        try:
            logged = dict(store.client.get_run(run_id).data.params)
        except Exception as exc:  # noqa: BLE001 - the server went away just now: the outbox will keep the params
            if not is_outage(exc):
                raise
            logged = {}
        return OpenedRun(experiment_id, run_id, logged)
    except GptlabError:
        raise
    except Exception as exc:  # noqa: BLE001 - MLflow's own errors: one line before training
        raise StoreError(f"MLflow store {store.redacted}: {first_line(exc)}") from None


class MlflowRunLogger(Logger):
    """Lightning's logger on one MLflow run; every write goes through ``experiment``, the run's :class:`Outbox`,
    so training never waits on the tracking server. ``opened`` None: rank > 0, no logs."""

    def __init__(self, store: TrackingStore, opened: OpenedRun | None, writes: Outbox | None):
        super().__init__()
        self.store = store
        self.logged_params = dict(opened.logged_params) if opened is not None else {}
        self._experiment_id = opened.experiment_id if opened is not None else ""
        self._run_id = opened.run_id if opened is not None else None
        self._writes = writes

    @property
    def name(self) -> str:
        return self._experiment_id

    @property
    def version(self) -> str | None:
        return self._run_id

    @property
    def run_id(self) -> str | None:
        return self._run_id

    @property
    @rank_zero_experiment
    def experiment(self) -> Outbox | None:
        return self._writes

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self._writes is not None:
            numbers = {k: float(v) for k, v in metrics.items() if v is not None and not isinstance(v, str)}
            self._writes.log_values(self._run_id, numbers, step or 0)

    @rank_zero_only
    def log_hyperparams(self, params: Mapping[str, Any], *args: Any, **kwargs: Any) -> None:
        if self._writes is not None:
            self._writes.log_values(self._run_id, params={k: str(v)[:MAX_PARAM] for k, v in flatten(params).items()})

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        if self._writes is not None:
            self._writes.set_terminated(self._run_id, RUN_STATUS.get(status, status))

    def close(self, wait_s: float | None = None) -> list[dict]:
        """Send what is queued (bounded wait), stop; the operations not sent (kept on disk)."""
        return self._writes.close(wait_s) if self._writes is not None else []


def _redacted_config(resolved: dict) -> dict:
    safe = json.loads(json.dumps(resolved))
    if isinstance(safe.get("logger"), dict) and "tracking_uri" in safe["logger"]:
        safe["logger"]["tracking_uri"] = redact_uri(str(safe["logger"]["tracking_uri"]))
    return safe


def log_config(logger: MlflowRunLogger, resolved: dict) -> None:
    """The resolved config as params (flattened) and as ``config.yaml``, credentials redacted."""
    import yaml

    safe = _redacted_config(resolved)
    params = {k: v for k, v in flatten(safe).items() if k != "train.resume"}
    # MLflow params are write-once: a setting changed on resume (a longer max_steps) is a tag.
    logged = logger.logged_params
    changed = {k: v for k, v in params.items() if k in logged and logged[k] != str(v)}
    for key, value in changed.items():
        logger.experiment.set_tag(logger.run_id, f"resumed_with.{key}", str(value))
    logger.log_hyperparams({k: v for k, v in params.items() if k not in logged})
    logger.experiment.log_text(logger.run_id, yaml.safe_dump(safe, sort_keys=False), "config.yaml")


def log_training_artifacts(logger: MlflowRunLogger, loss_plot: Path, model_dir: str | Path,
                           tokenizer_json: Path) -> None:  # fmt: skip
    """The loss picture, the model directory, its peft adapter alone (``adapter/``) and the tokenizer."""
    client, run_id = logger.experiment, logger.run_id
    client.log_artifact(run_id, str(loss_plot), "plots")
    client.log_artifacts(run_id, str(model_dir), "model")
    if (peft := Path(model_dir) / "peft").is_dir():  # gptlab.checkpoint.model_dir.PEFT_DIR
        client.log_artifacts(run_id, str(peft), "adapter")
    client.log_artifact(run_id, str(tokenizer_json), "tokenizer")
