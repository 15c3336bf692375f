"""The MLflow UI on the project's store (``python -m gptlab.ui``): ``mlflow server``, telemetry off
unless ``MLFLOW_DISABLE_TELEMETRY`` says otherwise. The store URI goes through the environment,
not the command line, and is printed redacted: credentials show neither in ``ps`` nor in logs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from gptlab.runtime import servers
from gptlab.tracking.store import TrackingStore
from gptlab.tracking.uri import normalize_tracking_uri, redact_uri

START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class UiSettings:
    """The top-level keys of ``conf/ui.yaml``, which owns their defaults (none here)."""

    tracking_uri: str  # the store; a relative sqlite path is anchored at the project root
    host: str
    port: int
    workers: int
    server_args: tuple[str, ...]  # more arguments for `mlflow server`, unchanged

    def __post_init__(self) -> None:
        servers.check_port("port", self.port)
        servers.check_workers("workers", self.workers)
        object.__setattr__(self, "server_args", tuple(self.server_args))  # OmegaConf checked the items
        object.__setattr__(self, "tracking_uri", normalize_tracking_uri(self.tracking_uri))

    @property
    def url(self) -> str:
        return servers.local_url(self.host, self.port)


def server_command(s: UiSettings) -> list[str]:
    return [
        sys.executable, "-m", "mlflow", "server",
        "--host", s.host, "--port", str(s.port), "--workers", str(s.workers),
        *s.server_args,
    ]  # fmt: skip


def server_env(s: UiSettings) -> dict[str, str]:
    """This environment, the interpreter's ``bin/`` first on ``PATH`` (:func:`gptlab.runtime.programs.child_env`)."""
    from gptlab.runtime.programs import child_env

    env = child_env()
    env["MLFLOW_BACKEND_STORE_URI"] = s.tracking_uri
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return env


def start(s: UiSettings) -> servers.Server:
    """Start the server; a missing ``sqlite:///`` store (not a new empty one) or a used port is an error."""
    TrackingStore(s.tracking_uri).check_exists("train a model first (python -m gptlab.train) or pass tracking_uri=...")
    servers.check_port_free(s.host, s.port, "pass another port=...")
    return servers.start(server_command(s), server_env(s), f"the MLflow UI on {s.url}")


def ready(s: UiSettings) -> bool:
    return servers.http_ok(f"{s.url}/health")


def banner(s: UiSettings) -> str:
    return f"MLflow UI: {s.url}  (store {redact_uri(s.tracking_uri)}; Ctrl-C stops it)"


def serve(s: UiSettings, start_timeout_s: float = START_TIMEOUT_S) -> int:
    """Serve until Ctrl-C (or SIGTERM): 0; a server that stops by itself is an error."""
    return start(s).foreground(lambda: ready(s), start_timeout_s, lambda: print(banner(s), flush=True))
