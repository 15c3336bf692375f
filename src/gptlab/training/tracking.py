"""MLflow tracking: fail-fast URI checks, credentials kept out of logs, run tags."""

from __future__ import annotations

import contextlib
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gptlab.errors import ConfigError


def redact_uri(uri: str) -> str:
    """``http://user:secret@host`` -> ``http://***@host``: safe to print and log."""
    parts = urllib.parse.urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urllib.parse.urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))
    return uri


def resolve_tracking_uri(uri: str) -> str:
    """Anchor a relative ``sqlite:///`` store to the DVC repository root, if any.

    Queued DVC experiments run in temporary copies of the repository; a relative store
    there would be thrown away with the copy. DVC sets ``DVC_ROOT`` to the real root.
    """
    import os

    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        root = os.environ.get("DVC_ROOT")
        if root:
            return f"sqlite:///{Path(root).resolve() / uri[len('sqlite:///'):]}"
    return uri


@contextlib.contextmanager
def _file_lock(path: Path):
    """An exclusive inter-process lock (POSIX ``flock``) held for the ``with`` body."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def prepare_store(uri: str, experiment_name: str) -> None:
    """Create the store's tables and the experiment once, under a lock.

    Parallel sweep jobs (joblib launcher) that open a fresh SQLite store at the same
    moment otherwise race in MLflow's schema migration and in experiment creation, and
    all but one job fail.
    """
    from mlflow.tracking import MlflowClient

    if not uri.startswith("sqlite:///"):
        return
    db = Path(uri[len("sqlite:///") :]).expanduser().resolve()
    with _file_lock(db.with_name(db.name + ".lock")):
        client = MlflowClient(uri)
        if client.get_experiment_by_name(experiment_name) is None:
            client.create_experiment(experiment_name)


def check_tracking_uri(uri: str, timeout_s: float = 5.0) -> None:
    """Fail before training starts if the tracking store cannot be used."""
    scheme = urllib.parse.urlsplit(uri).scheme
    if scheme == "sqlite":
        db = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else ""
        parent = Path(db).expanduser().resolve().parent if db else None
        if parent is not None and not parent.is_dir():
            raise ConfigError(f"MLflow tracking URI {uri}: directory {parent} does not exist")
        return
    if scheme in ("http", "https"):
        # Reachability only: the credentials are MLflow's business, not part of the host.
        parts = urllib.parse.urlsplit(uri)
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        health = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/health", "", ""))
        try:
            with urllib.request.urlopen(health, timeout=timeout_s):  # noqa: S310 - user-configured URI
                return
        except urllib.error.HTTPError:
            return  # the server answered: reachable (auth is MLflow's business)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConfigError(f"MLflow tracking URI {redact_uri(uri)} cannot be reached: {reason}") from None


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


def make_mlflow_logger(tracking_uri: str, experiment_name: str, run_name: str, run_id: str | None, tags: dict):
    from lightning.pytorch.loggers import MLFlowLogger

    return MLFlowLogger(
        experiment_name=experiment_name,
        run_name=run_name,
        tracking_uri=tracking_uri,
        tags=tags,
        run_id=run_id,
        log_model=False,
    )
