"""The MLflow store: reachability checks before work starts, one-time set-up, opening it."""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from gptlab.errors import ConfigError, StoreError
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


# The experiment tag that says what kind an experiment is: gptlab's are training ones
# (MLflow's "Model training" view: runs table, charts), not GenAI ones. MLflow 3.17's UI
# picks its view with a switch of its own, not from this tag: see docs/ui.md.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"


def prepare_store(uri: str, experiment_name: str) -> str:
    """Create the store's tables and the experiment once (under a lock for SQLite), tagged
    as a training experiment; return the experiment's id.

    Parallel sweep jobs (joblib launcher) that open a fresh SQLite store at the same
    moment otherwise race in MLflow's schema migration and in experiment creation, and
    all but one job fail.
    """
    from mlflow.tracking import MlflowClient

    if not uri.startswith(SQLITE):
        return ensure_training_experiment(MlflowClient(uri), experiment_name)
    db = Path(uri[len(SQLITE) :]).expanduser().resolve()
    with _file_lock(db.with_name(db.name + ".lock")):
        return ensure_training_experiment(MlflowClient(uri), experiment_name)


def ensure_training_experiment(client: Any, experiment_name: str) -> str:
    """The experiment's id; created if missing, and tagged ``mlflow.experimentKind`` =
    ``custom_model_development`` unless it already says what kind it is."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        try:
            return client.create_experiment(experiment_name, tags={EXPERIMENT_KIND_TAG: TRAINING_KIND})
        except MlflowException:  # another process (a server's client) created it meanwhile
            exp = client.get_experiment_by_name(experiment_name)
            if exp is None:
                raise
    if exp.lifecycle_stage == "active" and EXPERIMENT_KIND_TAG not in exp.tags:
        client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, TRAINING_KIND)
    return exp.experiment_id


SQLITE_HEADER = b"SQLite format 3\x00"


def check_sqlite_file(db: Path, uri: str) -> None:
    """An existing store file must be readable and an SQLite database.

    Otherwise MLflow's database layer fails deep inside with a long SQLAlchemy
    traceback; an empty file is fine (SQLite makes it a database).
    """
    if not db.exists():
        return
    try:
        with open(db, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except IsADirectoryError:
        raise StoreError(f"MLflow store {redact_uri(uri)}: {db} is a directory, not an SQLite database file") from None
    except OSError as exc:
        raise StoreError(
            f"MLflow store {redact_uri(uri)}: cannot read {db} ({exc.strerror or exc}): fix its permissions "
            "or point logger.tracking_uri at another store"
        ) from None
    if head and head != SQLITE_HEADER:
        raise StoreError(
            f"MLflow store {redact_uri(uri)}: {db} is not an SQLite database (damaged or another kind of file): "
            f"move it aside (mv {db} {db}.bad) to start a new store, or point logger.tracking_uri at another one"
        )


def check_tracking_uri(uri: str, timeout_s: float = 5.0) -> None:
    """Fail before work starts if the tracking store cannot be used."""
    scheme = urllib.parse.urlsplit(uri).scheme
    if scheme == "sqlite":
        db = sqlite_path(uri)
        parent = db.resolve().parent if db is not None else None
        if parent is not None and not parent.is_dir():
            raise ConfigError(f"MLflow tracking URI {uri}: directory {parent} does not exist")
        if db is not None:
            check_sqlite_file(db, uri)
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
    if db is not None:
        check_sqlite_file(db, uri)


def open_store(tracking_uri: str) -> Any:
    """An ``MlflowClient`` on an existing, reachable store."""
    from mlflow.tracking import MlflowClient

    check_store_exists(tracking_uri, "train a model first (python -m gptlab.train) or set tracking_uri=...")
    check_tracking_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri)
