"""The MLflow store: reachability checks before work starts, one-time set-up, opening it."""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from gptlab.errors import ConfigError
from gptlab.tracking.uri import SQLITE, redact_uri, sqlite_path


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

    if not uri.startswith(SQLITE):
        return
    db = Path(uri[len(SQLITE) :]).expanduser().resolve()
    with _file_lock(db.with_name(db.name + ".lock")):
        client = MlflowClient(uri)
        if client.get_experiment_by_name(experiment_name) is None:
            client.create_experiment(experiment_name)


def check_tracking_uri(uri: str, timeout_s: float = 5.0) -> None:
    """Fail before work starts if the tracking store cannot be used."""
    scheme = urllib.parse.urlsplit(uri).scheme
    if scheme == "sqlite":
        db = sqlite_path(uri)
        parent = db.resolve().parent if db is not None else None
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


def check_store_exists(uri: str, hint: str) -> None:
    """A ``sqlite:///`` store whose file is missing is an error for readers: MLflow would
    silently create an empty database, and a typo would then read as "no runs"."""
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        raise ConfigError(f"no MLflow store at {redact_uri(uri)} ({db.resolve()} does not exist): {hint}")


def open_store(tracking_uri: str) -> Any:
    """An ``MlflowClient`` on an existing, reachable store."""
    from mlflow.tracking import MlflowClient

    check_store_exists(tracking_uri, "train a model first (python -m gptlab.train) or set tracking_uri=...")
    check_tracking_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri)
