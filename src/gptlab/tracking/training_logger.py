"""The training run's MLflow side: Lightning's logger, run tags, config and artifacts."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gptlab.tracking.uri import redact_uri


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"n_layer": 4}}`` -> ``{"model.n_layer": 4}`` (MLflow params)."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def git_state(cwd: str | Path = ".") -> dict[str, str]:
    """The commit and whether the work tree was dirty ("unknown" outside git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        return {"git_commit": commit, "git_dirty": str(bool(dirty)).lower()}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}


class QueuedClient:
    """An ``MlflowClient`` whose writes go through an :class:`~gptlab.tracking.outbox.Outbox`.

    Reads (``get_run``, ``search_runs``, creating the run) pass straight through: they
    happen before training, when the store was just checked. Writes return at once, so
    Lightning's logging, the progress samples and the end of the fit never wait on the
    server.
    """

    def __init__(self, client: Any, outbox: Any):
        self._client = client
        self.outbox = outbox

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def log_batch(self, run_id: str, metrics=(), params=(), tags=(), synchronous: bool | None = None) -> None:
        from gptlab.tracking.outbox import batch_op

        if metrics or params or tags:
            self.outbox.put(batch_op(run_id, metrics, params, tags))

    def log_metric(self, run_id: str, key: str, value: float, timestamp: int | None = None, step: int | None = None,
                   **_: Any) -> None:  # fmt: skip
        from mlflow.entities import Metric

        self.log_batch(run_id, metrics=[Metric(key, value, timestamp or int(time.time() * 1000), step or 0)])

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        from mlflow.entities import Param

        self.log_batch(run_id, params=[Param(key, str(value))])
        return value

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        from mlflow.entities import RunTag

        self.log_batch(run_id, tags=[RunTag(key, str(value))])

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.outbox.put({"op": "log_text", "run_id": run_id, "text": text, "artifact_file": artifact_file})

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        self.outbox.put({"op": "log_artifact", "run_id": run_id, "local_path": str(Path(local_path).resolve()),
                         "artifact_path": artifact_path})  # fmt: skip

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        self.outbox.put({"op": "log_artifacts", "run_id": run_id, "local_dir": str(Path(local_dir).resolve()),
                         "artifact_path": artifact_path})  # fmt: skip

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> None:
        self.outbox.put({"op": "set_terminated", "run_id": run_id, "status": status or "FINISHED",
                         "end_time": end_time or int(time.time() * 1000)})  # fmt: skip


def make_mlflow_logger(tracking_uri: str, experiment_name: str, run_name: str, run_id: str | None, tags: dict):
    """Lightning's MLflow logger, sending through an outbox; ``run_id`` continues a run (resume).

    Training never blocks on the tracking server (:mod:`gptlab.tracking.outbox`): the
    logger's ``close()`` ends the sending with a bounded wait and says how to send what
    is left. Every HTTP request of the process is bounded (``MLFLOW_HTTP_REQUEST_TIMEOUT``,
    ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``; values the user set are kept).
    """
    from lightning.pytorch.loggers import MLFlowLogger

    from gptlab.tracking.outbox import OUTBOX_DIR, Outbox, limit_http_waits, publish_op
    from gptlab.tracking.uri import project_root

    limit_http_waits()

    class OutboxMLFlowLogger(MLFlowLogger):
        """Lightning's MLflow logger whose client is a :class:`QueuedClient`."""

        def __init__(self, **kwargs: Any):
            super().__init__(**kwargs)
            self.outbox = Outbox(self._mlflow_client, tracking_uri, project_root() / OUTBOX_DIR)
            self._mlflow_client = QueuedClient(self._mlflow_client, self.outbox)

        def finalize(self, status: str = "success") -> None:
            # Lightning's own asks the server whether the run exists first (a round trip
            # that would wait on an absent server); the end of the run is queued instead.
            if not self._initialized:
                return
            status = {"success": "FINISHED", "finished": "FINISHED", "failed": "FAILED"}.get(status, status)
            self.experiment.set_terminated(self.run_id, status)

        def publish_model(self, logger_cfg: Any, model_dir: str | Path) -> None:
            """Queue the MLflow model step (``gptlab.serving.log_model.publish_model``)."""
            self.outbox.put(publish_op(logger_cfg, self.run_id, model_dir))

        def close(self, wait_s: float | None = None) -> list[dict]:
            """Send what is queued (bounded wait), stop; the operations not sent (kept on disk)."""
            return self.outbox.close(wait_s)

    return OutboxMLFlowLogger(
        experiment_name=experiment_name,
        run_name=run_name,
        tracking_uri=tracking_uri,
        tags=tags,
        run_id=run_id,
        log_model=False,
    )


def _redacted_config(resolved: dict) -> dict:
    safe = json.loads(json.dumps(resolved))
    if isinstance(safe.get("logger"), dict) and "tracking_uri" in safe["logger"]:
        safe["logger"]["tracking_uri"] = redact_uri(str(safe["logger"]["tracking_uri"]))
    return safe


def log_config(logger: Any, resolved: dict) -> None:
    """The resolved config as params (flattened) and as ``config.yaml``, credentials redacted."""
    import yaml

    safe = _redacted_config(resolved)
    params = {k: v for k, v in flatten(safe).items() if k != "train.resume"}
    # MLflow params are write-once. A resumed run keeps its original params; settings
    # that changed on resume (e.g. a longer max_steps) are recorded as tags instead.
    try:
        logged = logger.experiment.get_run(logger.run_id).data.params
    except Exception as exc:  # noqa: BLE001 - the server went away just now: the outbox will keep the params
        from gptlab.tracking.outbox import is_outage

        if not is_outage(exc):
            raise
        logged = {}
    changed = {k: v for k, v in params.items() if k in logged and logged[k] != str(v)}
    for key, value in changed.items():
        logger.experiment.set_tag(logger.run_id, f"resumed_with.{key}", str(value))
    logger.log_hyperparams({k: v for k, v in params.items() if k not in logged})
    logger.experiment.log_text(logger.run_id, yaml.safe_dump(safe, sort_keys=False), "config.yaml")


def log_training_artifacts(logger: Any, loss_plot: Path, model_dir: str | Path, tokenizer_json: Path) -> None:
    """The loss picture, the model directory and the tokenizer, next to the run's metrics."""
    client, run_id = logger.experiment, logger.run_id
    client.log_artifact(run_id, str(loss_plot), "plots")
    client.log_artifacts(run_id, str(model_dir), "model")
    client.log_artifact(run_id, str(tokenizer_json), "tokenizer")
