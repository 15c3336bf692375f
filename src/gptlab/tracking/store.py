"""The one home of MLflow access (:class:`TrackingStore`): no module outside ``gptlab.tracking`` builds an
``MlflowClient`` or parses a tracking URI."""

from __future__ import annotations

import contextlib
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gptlab.errors import ConfigError, StoreError, TrackingAuthError
from gptlab.tracking.uri import host_port, normalize_tracking_uri, redact_uri, split_credentials, sqlite_path

# MLflow's defaults (120 s timeout, 7 retries with back-off) stall a stage for minutes on a dead server.
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "5", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}
# (1 + retries) * timeout: a server that accepts connections but never answers.
HTTP_WORST_REQUEST_S = 2 * 5.0

# gptlab's experiments are training ones (MLflow's "Model training" view), not GenAI ones: see docs/ui.md.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"

SQLITE_HEADER = b"SQLite format 3\x00"

# Where MLflow's client reads a server's login; gptlab keeps credentials only here (never in configs or logs).
USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"
TOKEN_ENV = "MLFLOW_TRACKING_TOKEN"


def login_from_uri(uri: str) -> str:
    """``uri`` without its login, moved to the environment: MLflow's errors, which gptlab prints, hold the URL."""
    bare, username, password = split_credentials(uri)
    if username:
        os.environ[USERNAME_ENV] = username
    if password is not None:
        os.environ[PASSWORD_ENV] = password
    return bare


def login_header() -> dict[str, str]:
    """The ``Authorization`` header MLflow's client would send (basic login first, then a token)."""
    import base64

    username, password = os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV)
    if username and password:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    if os.environ.get(TOKEN_ENV):
        return {"Authorization": f"Bearer {os.environ[TOKEN_ENV]}"}
    return {}


def bound_http_waits() -> None:
    """Bound every MLflow HTTP request of this process, every thread (unless the user set the variables)."""
    for name, value in HTTP_LIMITS.items():
        os.environ.setdefault(name, value)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock (POSIX ``flock``) held for the ``with`` body."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class TrackingStore:
    """An MLflow tracking store (and its model registry), by URI: a relative ``sqlite:///``
    URI is anchored at the project root; nothing is opened until :attr:`client` is used."""

    def __init__(self, uri: str):
        normalized = normalize_tracking_uri(str(uri))
        self._redacted = redact_uri(normalized)  # taken before the login leaves the URI
        self.uri = login_from_uri(normalized)
        self._client: Any = None
        bound_http_waits()

    def __repr__(self) -> str:
        return f"TrackingStore({self.redacted!r})"

    @property
    def redacted(self) -> str:
        """The URI without credentials: safe to print and log (``***@`` where it had a login)."""
        return self._redacted

    @property
    def sqlite_file(self) -> Path | None:
        """The database file of an ``sqlite:///`` store, None for servers."""
        return sqlite_path(self.uri)

    @property
    def client(self) -> Any:
        """The ``MlflowClient`` on this store (tracking and registry), made on first use."""
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        return self._client

    # -- checks, before work starts

    def check_usable(self, timeout_s: float = 5.0) -> None:
        """Fail with one line if the store cannot be used: a missing directory or a file that
        is not an SQLite database; a server that does not answer."""
        scheme = urllib.parse.urlsplit(self.uri).scheme
        if scheme == "sqlite":
            db = self.sqlite_file
            if db is not None:
                parent = db.resolve().parent
                if not parent.is_dir():
                    raise ConfigError(f"MLflow tracking URI {self.redacted}: directory {parent} does not exist")
                self._check_sqlite_file(db)
        elif scheme in ("http", "https"):
            self._check_server(timeout_s)

    def check_exists(self, hint: str) -> None:
        """For readers: a ``sqlite:///`` store whose file is missing is an error (MLflow would
        silently create an empty database, and a typo would then read as "no runs")."""
        db = self.sqlite_file
        if db is not None and not db.is_file():
            raise ConfigError(f"no MLflow store at {self.redacted} ({db.resolve()} does not exist): {hint}")
        self.check_usable()

    def exists(self) -> bool:
        """Whether the store can hold runs already (a server, or an existing SQLite file)."""
        db = self.sqlite_file
        return db is None or db.is_file()

    def _check_sqlite_file(self, db: Path) -> None:
        if not db.exists():
            return  # an empty or missing file is fine for a writer: SQLite makes it a database
        try:
            with open(db, "rb") as f:
                head = f.read(len(SQLITE_HEADER))
        except IsADirectoryError:
            raise StoreError(
                f"MLflow store {self.redacted}: {db} is a directory, not an SQLite database file"
            ) from None
        except OSError as exc:
            raise StoreError(
                f"MLflow store {self.redacted}: cannot read {db} ({exc.strerror or exc}): fix its permissions "
                "or point logger.tracking_uri at another store"
            ) from None
        if head and head != SQLITE_HEADER:
            raise StoreError(
                f"MLflow store {self.redacted}: {db} is not an SQLite database (damaged or another kind of file): "
                f"move it aside (mv {db} {db}.bad) to start a new store, or point logger.tracking_uri at another one"
            )

    def _check_server(self, timeout_s: float) -> None:
        # Reachability only: the credentials are MLflow's business, not part of the host.
        parts = urllib.parse.urlsplit(self.uri)
        netloc = host_port(parts)
        health = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/health", "", ""))
        try:
            with urllib.request.urlopen(health, timeout=timeout_s):  # noqa: S310 - user-configured URI
                pass
        except urllib.error.HTTPError:
            pass  # the server answered: reachable
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConfigError(f"MLflow tracking URI {self.redacted} cannot be reached: {reason}") from None
        self._check_login(urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")), timeout_s)

    def _check_login(self, base: str, timeout_s: float) -> None:
        """One request that needs a login on a server with logins (``mlflow server --app-name
        basic-auth``): a refused login is one line before any work, not a 401 traceback later."""
        probe = urllib.request.Request(
            f"{base}/api/2.0/mlflow/experiments/search?max_results=1", headers=login_header()
        )
        try:
            with urllib.request.urlopen(probe, timeout=timeout_s):  # noqa: S310 - user-configured URI
                return
        except urllib.error.HTTPError as exc:
            code = exc.code
        except (urllib.error.URLError, OSError):
            return  # it answered /health a moment ago; MLflow's own requests report the rest
        username = os.environ.get(USERNAME_ENV)
        if code == 401 and not username and not os.environ.get(TOKEN_ENV):
            raise TrackingAuthError(
                f"MLflow tracking server {self.redacted} asks for a login: set {USERNAME_ENV} and {PASSWORD_ENV} "
                "(for the local team stack: eval \"$(python -m gptlab.team env user=NAME)\")"
            )
        if code == 401:
            who = f"user {username!r}" if username else f"the token in {TOKEN_ENV}"
            raise TrackingAuthError(
                f"MLflow tracking server {self.redacted} refused the login of {who} (HTTP 401): "
                f"check {USERNAME_ENV} and {PASSWORD_ENV}"
            )
        if code == 403:
            raise TrackingAuthError(
                f"MLflow tracking server {self.redacted}: user {username!r} may not read experiments (HTTP 403): "
                "ask its admin for a permission"
            )

    # -- writing

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """An ``sqlite:///`` store's inter-process lock (a no-op for servers): parallel sweep
        jobs would race in MLflow's schema migration, experiment creation and champion moves."""
        db = self.sqlite_file
        if db is None:
            yield
            return
        db = db.resolve()
        with file_lock(db.with_name(db.name + ".lock")):
            yield

    def ensure_experiment(self, name: str) -> str:
        """The experiment's id: created if missing (tables too, under the lock), tagged as a
        training experiment unless it already says what kind it is."""
        from mlflow.exceptions import MlflowException

        with self.lock():
            client = self.client
            exp = client.get_experiment_by_name(name)
            if exp is None:
                try:
                    return client.create_experiment(name, tags={EXPERIMENT_KIND_TAG: TRAINING_KIND})
                except MlflowException:  # another process (a server's client) created it meanwhile
                    exp = client.get_experiment_by_name(name)
                    if exp is None:
                        raise
            if exp.lifecycle_stage == "active" and EXPERIMENT_KIND_TAG not in exp.tags:
                client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, TRAINING_KIND)
            return exp.experiment_id

    @contextlib.contextmanager
    def active_run(self, run_id: str) -> Iterator[Any]:
        """MLflow's fluent API (``mlflow.pyfunc.log_model``, ``mlflow.register_model``) on this
        store with ``run_id`` active for the ``with`` body; the process-wide URIs are put back."""
        import mlflow
        from mlflow.tracking import is_tracking_uri_set

        # MLflow mirrors both settings into these variables (for child processes), and
        # set_registry_uri(None) leaves its variable behind: they are put back as they were.
        env = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
        previous = mlflow.get_tracking_uri() if is_tracking_uri_set() else None
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        try:
            with mlflow.start_run(run_id=run_id) as run:
                yield run
        finally:
            mlflow.set_tracking_uri(previous)
            # A registry URI set explicitly before is in the variable (set_registry_uri puts it there).
            mlflow.set_registry_uri(env["MLFLOW_REGISTRY_URI"])
            for name, value in env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
