"""The MLflow UI on the project's store: what ``python -m gptlab.ui`` runs.

``mlflow server`` (the same program as ``mlflow ui``) in its own process group, one
worker and MLflow's telemetry off unless the settings or ``MLFLOW_DISABLE_TELEMETRY``
say otherwise. The store URI goes through :func:`normalize_tracking_uri`, so the UI
opens the store the train stage writes to from any directory of the project; it
reaches the server through its environment, not its command line, and is printed
redacted, so credentials in it show neither in ``ps`` nor in logs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from gptlab.errors import ConfigError
from gptlab.tracking.store import TrackingStore
from gptlab.tracking.uri import normalize_tracking_uri, redact_uri

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class UiSettings:
    """What ``python -m gptlab.ui`` runs (the top-level keys of ``conf/ui.yaml``, its
    ``tracking_uri`` as ``backend_store_uri``); the scoring server reuses host, port and store."""

    backend_store_uri: str  # a relative sqlite path is anchored at the project root
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 1
    server_args: tuple[str, ...] = ()  # more arguments for `mlflow server`, unchanged

    def __post_init__(self) -> None:
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ConfigError(f"port must be between 1 and 65535, got {self.port!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers!r}")
        args = self.server_args
        if not isinstance(args, (list, tuple)) or not all(isinstance(a, str) for a in args):
            raise ConfigError(
                f"server_args must be a list of strings, e.g. 'server_args=[--allowed-hosts,myhost:5000]', got {args!r}"
            )
        object.__setattr__(self, "server_args", tuple(args))
        object.__setattr__(self, "backend_store_uri", normalize_tracking_uri(self.backend_store_uri))

    @property
    def url(self) -> str:
        """Where a browser on this machine reaches the server."""
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): pass another port=...") from None


def server_command(s: UiSettings) -> list[str]:
    return [
        sys.executable, "-m", "mlflow", "server",
        "--host", s.host, "--port", str(s.port), "--workers", str(s.workers),
        *s.server_args,
    ]  # fmt: skip


def server_env(s: UiSettings) -> dict[str, str]:
    """This process's environment with the interpreter's ``bin/`` first on ``PATH``: what
    MLflow starts by name resolves in the environment that runs gptlab (gptlab.runtime.programs)."""
    from gptlab.runtime.programs import child_env

    env = child_env()
    env["MLFLOW_BACKEND_STORE_URI"] = s.backend_store_uri
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return env


def start(s: UiSettings) -> subprocess.Popen:
    """Start the server in its own process group (MLflow runs its web server as a child
    process of its own: :func:`stop` ends them together).

    A ``sqlite:///`` store that does not exist is an error rather than a new empty
    database; so is a port already in use.
    """
    store = TrackingStore(s.backend_store_uri)
    store.check_exists("train a model first (python -m gptlab.train) or pass tracking_uri=...")
    check_port_free(s.host, s.port)
    return subprocess.Popen(server_command(s), env=server_env(s), start_new_session=True)


def wait_until_up(s: UiSettings, proc: subprocess.Popen, timeout_s: float = START_TIMEOUT_S) -> bool:
    """True once ``/health`` answers; False after ``timeout_s``; an error if the server exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(f"mlflow server exited with code {proc.returncode} (its messages are above)")
        try:
            with urllib.request.urlopen(f"{s.url}/health", timeout=2):  # noqa: S310 - our own server
                return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    return False


def stop(proc: subprocess.Popen, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM to the server's process group, SIGKILL if it is still there after ``timeout_s``."""
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, timeout_s)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def serve(s: UiSettings) -> int:
    """Start the server, print its URL once it answers, serve until Ctrl-C (or SIGTERM);
    0, or an error if the server stopped by itself with a non-zero exit code."""
    proc = start(s)

    def _terminate(signum, frame):  # noqa: ARG001 - signal handler signature
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        if wait_until_up(s, proc):
            print(f"MLflow UI: {s.url}  (store {redact_uri(s.backend_store_uri)}; Ctrl-C stops it)", flush=True)
        else:
            print(f"MLflow UI: {s.url} is not answering after {START_TIMEOUT_S:.0f} s; still waiting", flush=True)
        code = proc.wait()
        if code:
            raise ConfigError(f"mlflow server exited with code {code} (its messages are above)")
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        stop(proc)
        signal.signal(signal.SIGTERM, previous)
