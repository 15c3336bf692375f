"""MLflow's scoring server on a logged gptlab model: what ``python -m gptlab.serve`` runs.

The model URI is resolved against the store first, so that a missing model, alias, version
or run is one line (exit code 2) rather than the server's traceback.
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from dataclasses import dataclass

from gptlab.errors import ConfigError
from gptlab.runtime import servers
from gptlab.tracking.uri import normalize_tracking_uri, redact_uri

START_TIMEOUT_S = 180.0
EXAMPLE_REQUEST = {"inputs": ["ROMEO:"], "params": {"max_new_tokens": 40, "temperature": 0.8}}


@dataclass(frozen=True)
class ServeSettings:
    """The top-level keys of ``conf/serve.yaml``, which owns their defaults (none here)."""

    model_uri: str  # models:/<name>@champion, models:/<name>/<version>, runs:/<id>/model, a path
    tracking_uri: str  # where models:/ and runs:/ resolve; a relative sqlite path is anchored at the project root
    host: str
    port: int
    workers: int
    device: str  # where the model runs in the server: auto | cpu | cuda | cuda:1 ...

    def __post_init__(self) -> None:
        if not self.model_uri or str(self.model_uri).startswith("models:/None@"):
            raise ConfigError("model_uri is not set (logger.registered_model_name is null): pass model_uri=...")
        servers.check_port("port", self.port)
        servers.check_workers("workers", self.workers)
        object.__setattr__(self, "tracking_uri", normalize_tracking_uri(self.tracking_uri))

    @property
    def url(self) -> str:
        return servers.local_url(self.host, self.port)


def resolve_model(s: ServeSettings) -> str:
    """Check that a ``models:/`` or ``runs:/`` URI names a model in the store (anything else
    is left to MLflow); a line saying which one."""
    from mlflow.exceptions import MlflowException

    from gptlab.tracking import TrackingStore

    scheme = urllib.parse.urlsplit(s.model_uri).scheme
    if scheme not in ("models", "runs"):
        return s.model_uri
    store = TrackingStore(s.tracking_uri)
    store.check_exists("train a model first (dvc repro) or pass tracking_uri=...")
    client, where = store.client, store.redacted
    path = s.model_uri.split(":/", 1)[1].lstrip("/")
    try:
        if scheme == "runs":
            run_id = path.split("/", 1)[0]
            client.get_run(run_id)
            return f"{s.model_uri} (run {run_id})"
        name, _, rest = path.partition("@")
        if rest:  # models:/<name>@<alias>
            mv = client.get_model_version_by_alias(name, rest)
        else:  # models:/<name>/<version>
            name, _, version = path.partition("/")
            mv = client.get_model_version(name, version) if version else None
            if mv is None:
                raise ConfigError(
                    f"model_uri {s.model_uri} names no version: use models:/{name}/<version> or @champion"
                )
    except MlflowException as exc:
        reason = exc.message.splitlines()[0] if exc.message else str(exc)
        raise ConfigError(
            f"cannot find {s.model_uri} in the MLflow store {where}: {reason} "
            "(train, evaluate and publish a model first: dvc repro; or pass model_uri=...)"
        ) from None
    return f"{s.model_uri} (registered model {mv.name} version {mv.version})"


def serve_command(s: ServeSettings) -> list[str]:
    return [
        sys.executable, "-m", "mlflow", "models", "serve",
        "--model-uri", s.model_uri, "--env-manager", "local",
        "--host", s.host, "--port", str(s.port), "--workers", str(s.workers),
    ]  # fmt: skip


def serve_env(s: ServeSettings) -> dict[str, str]:
    """The server's environment: the store and device, and the interpreter's ``bin/`` first
    on ``PATH`` (gptlab.runtime.programs), so that the ``uvicorn`` MLflow starts is this
    environment's even when it is not activated."""
    from gptlab.runtime.programs import child_env
    from gptlab.serving.pyfunc_model import DEVICE_ENV

    env = child_env()
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    env["MLFLOW_TRACKING_URI"] = s.tracking_uri
    env[DEVICE_ENV] = s.device
    return env


def check_programs(env: dict[str, str]) -> None:
    """MLflow starts the scoring server as ``bash -c 'exec uvicorn ...'``: a missing one is a
    line naming it here rather than a traceback from the server."""
    from gptlab.runtime.programs import find_program, pip_install

    find_program("bash", "install bash with the system's package manager (MLflow runs the scoring server with it)", env)
    find_program("uvicorn", pip_install("uvicorn"), env)


def start(s: ServeSettings) -> servers.Server:
    servers.check_port_free(s.host, s.port, "pass another port=...")
    env = serve_env(s)
    check_programs(env)
    return servers.start(serve_command(s), env, f"MLflow's scoring server on {s.url}")


def curl_example(url: str) -> str:
    body = json.dumps(EXAMPLE_REQUEST)
    return f"curl -s {url}/invocations -H 'Content-Type: application/json' -d '{body}'"


def banner(s: ServeSettings) -> str:
    return (f"serving {s.model_uri} at {s.url}/invocations (store {redact_uri(s.tracking_uri)}; Ctrl-C stops it)\n"
            f"  {curl_example(s.url)}")  # fmt: skip


def serve(s: ServeSettings, start_timeout_s: float = START_TIMEOUT_S) -> int:
    """Resolve the model, start the server, print its URL and a ``curl`` once it answers,
    serve until Ctrl-C (or SIGTERM): 0; a server that stops by itself is an error with its exit code."""
    what = resolve_model(s)
    server = start(s)
    print(f"starting MLflow's scoring server on {what} (pid {server.pid})", file=sys.stderr, flush=True)
    health = f"{s.url}/health"
    return server.foreground(lambda: servers.http_ok(health), start_timeout_s, lambda: print(banner(s), flush=True))
