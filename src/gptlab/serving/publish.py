"""Publish a trained and evaluated model (the ``publish`` stage's routine, also each sweep
job's): log it to its run, register a version, maybe move ``champion`` to it (README,
"Registry and serving"). Safe to rerun: what was logged and registered before is found again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from importlib import metadata
from pathlib import Path
from typing import Any

from gptlab.config import PathsConfig
from gptlab.errors import DataError
from gptlab.tracking.config import LoggerConfig

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"  # the evaluate stage's
PUBLISH_FILE = "publish.json"
# What a logged model is made of besides the model directory: a change to one of these
# publishes the same model again, as a new version.
SERVING_CODE = ("log_model.py", "model_code.py", "pyfunc_model.py")


def val_bits_per_char(metrics_path: Path) -> float | None:
    """The whole validation split's bits per character from ``metrics.json`` (None: not scored)."""
    try:
        report = json.loads(metrics_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{metrics_path} not found: run the evaluate stage first (python -m gptlab.evaluate)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{metrics_path} is not valid JSON ({exc}): run the evaluate stage again") from None
    value = (report.get("val") or {}).get("bits_per_char") if isinstance(report, dict) else None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def model_digest(model_dir: Path) -> str:
    """sha256 over the model directory's files (names and contents)."""
    from gptlab.io import sha256_file

    h = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        h.update(f"{path.relative_to(model_dir).as_posix()}\0{sha256_file(path)}\n".encode())
    return h.hexdigest()


def publish_key(model_sha256: str) -> str:
    """What identifies a logged model: the model directory, the serving code, gptlab's version."""
    h = hashlib.sha256(f"{model_sha256}\ngptlab=={metadata.version('gptlab')}\n".encode())
    here = Path(__file__).parent
    for name in SERVING_CODE:
        h.update(name.encode() + b"\0" + (here / name).read_bytes())
    return h.hexdigest()


def recorded_data(model_dir: Path) -> dict[str, str]:
    """The ``data.source`` and ``tokenizer.kind`` the model directory says it trained on
    ({} where it does not): the publish CLI sets them, so that the default registered name
    (``gptlab-${data.source}-${tokenizer.kind}``) follows the data, not the config."""
    from gptlab.checkpoint.model_dir import read_model_info
    from gptlab.errors import GptlabError

    try:
        lineage = read_model_info(model_dir).get("lineage") or {}
    except GptlabError:  # publish_model reports a missing or bad model directory itself
        return {}
    values = {"data.source": (lineage.get("data") or {}).get("source"), "tokenizer.kind": lineage.get("tokenizer_kind")}
    return {k: v for k, v in values.items() if isinstance(v, str)}


def publish_model(paths: PathsConfig, logger_cfg: LoggerConfig) -> dict:
    """Log, register and maybe promote ``paths.model_dir``; write and return ``publish.json``."""
    from gptlab.checkpoint.model_dir import read_model_info
    from gptlab.io import atomic_write_json

    model_dir = Path(paths.model_dir)
    bpc = val_bits_per_char(paths.report(METRICS_FILE))
    info = read_model_info(model_dir)
    run_id = (info.get("mlflow") or {}).get("run_id")
    record: dict[str, Any] = {"published": False, "run_id": run_id, "val_bits_per_char": bpc}
    if not logger_cfg.enabled:
        record["reason"] = "tracking is off (logger.enabled=false)"
    elif not run_id:
        record["reason"] = "the model records no MLflow run (it was trained with tracking off)"
    else:
        record.update(_publish_to_run(model_dir, run_id, logger_cfg, bpc))
    if not record["published"]:
        log.warning("nothing published: %s", record["reason"])
    atomic_write_json(paths.report(PUBLISH_FILE), record)
    return record


def _publish_to_run(model_dir: Path, run_id: str, logger_cfg: LoggerConfig, bpc: float | None) -> dict:
    from gptlab.serving.log_model import MODEL_NAME, log_pyfunc_model
    from gptlab.tracking import registry
    from gptlab.tracking.store import TrackingStore

    store = TrackingStore(logger_cfg.tracking_uri)
    store.check_usable()
    run = registry.find_run(store, run_id) if store.exists() else None
    if run is None:
        return {"reason": f"the model's training run {run_id} is not in the MLflow store {store.redacted}"}

    model_sha = model_digest(model_dir)
    key = publish_key(model_sha)
    name = logger_cfg.registered_model_name
    version = None
    with registry.keeping_run_end(store, run), store.active_run(run_id):
        logged = registry.published_model(store, run, key)
        if logged is None:
            logged = log_pyfunc_model(model_dir, tags={registry.PUBLISH_KEY_TAG: key})
            log.info("logged the MLflow model runs:/%s/%s (%s)", run_id, MODEL_NAME, logged.model_uri)
        else:
            log.info("the model was logged before: %s (runs:/%s/%s)", logged.model_uri, run_id, MODEL_NAME)
        if name:
            version = registry.model_version(store, name, run_id, logged.model_uri)
            if version is None:
                version = registry.register_version(store, name, logged.model_uri, {registry.MODEL_TAG: model_sha})
                log.info("registered %s version %s", name, version.version)
            else:
                log.info("%s version %s holds this model already", name, version.version)
        else:
            log.info("model registration is off (logger.registered_model_name is null)")

    record: dict[str, Any] = {
        "published": True,
        "model_uri": logged.model_uri,
        "run_model_uri": f"runs:/{run_id}/{MODEL_NAME}",
        "registered_model_name": name or None,
        "version": None if version is None else str(version.version),
        "promoted": None,
        "message": None,
    }
    if version is not None:
        result = registry.promote(store, name, str(version.version), bpc, model_sha)
        if result is not None:
            record.update(promoted=result.promoted, message=result.message)
    return record
