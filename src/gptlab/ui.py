"""Open the MLflow UI on the project's tracking store: ``python -m gptlab.ui``.

    python -m gptlab.ui                                   # http://127.0.0.1:5000
    python -m gptlab.ui --port 5001
    python -m gptlab.ui --backend-store-uri sqlite:///elsewhere/mlflow.db
    python -m gptlab.ui --host 0.0.0.0 -- --allowed-hosts myhost:5000

is ``mlflow server`` (the same program as ``mlflow ui``) on the store the train stage
writes to -- ``logger.tracking_uri`` of ``conf/``, ``sqlite:///mlflow.db`` unless
changed -- so by hand it is the same as

    mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

It listens on 127.0.0.1 only, unless ``--host`` says otherwise: the UI has no login and
can delete runs, so reaching it from other machines is an explicit choice (MLflow's own
host-header check then also wants ``--allowed-hosts``). Arguments after ``--`` go to
``mlflow server`` unchanged. One worker process (a local UI needs no more) and MLflow's
telemetry off, unless ``--workers`` / ``MLFLOW_DISABLE_TELEMETRY`` say otherwise.

The URL is printed once the server answers. The store URI reaches the server through
its environment, not its command line, and is printed redacted, so credentials in it do
not show in ``ps`` or in logs. A ``sqlite:///`` store that does not exist is an error
(exit code 2) rather than a new empty database; so is a port already in use.
Ctrl-C stops the server.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from gptlab.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class UiSettings:
    backend_store_uri: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 1
    extra_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"--port must be between 1 and 65535, got {self.port}")
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")

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


def project_tracking_uri() -> str:
    """``logger.tracking_uri`` of the composed ``conf/`` (the train stage's store)."""
    from hydra import compose, initialize_config_dir

    from gptlab.cli.app import conf_dir

    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return str(compose(config_name="config").logger.tracking_uri)


def check_store(uri: str) -> None:
    from gptlab.comparison.runs import sqlite_path
    from gptlab.training.tracking import redact_uri

    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        raise ConfigError(
            f"no MLflow store at {redact_uri(uri)} ({db.resolve()} does not exist): "
            "train a model first (python -m gptlab.train) or pass --backend-store-uri"
        )


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): pass another --port") from None


def server_command(s: UiSettings) -> list[str]:
    return [
        sys.executable, "-m", "mlflow", "server",
        "--host", s.host, "--port", str(s.port), "--workers", str(s.workers),
        *s.extra_args,
    ]  # fmt: skip


def server_env(s: UiSettings) -> dict[str, str]:
    env = dict(os.environ)
    env["MLFLOW_BACKEND_STORE_URI"] = s.backend_store_uri
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return env


def start(s: UiSettings) -> subprocess.Popen:
    """Start the server in its own process group (MLflow runs its web server as a child
    process of its own: :func:`stop` ends them together)."""
    check_store(s.backend_store_uri)
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


def run(s: UiSettings) -> int:
    """Serve until Ctrl-C (or SIGTERM); the server's exit code."""
    from gptlab.training.tracking import redact_uri

    proc = start(s)

    def _terminate(signum, frame):  # noqa: ARG001 - signal handler signature
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        if wait_until_up(s, proc):
            print(f"MLflow UI: {s.url}  (store {redact_uri(s.backend_store_uri)}; Ctrl-C stops it)", flush=True)
        else:
            print(f"MLflow UI: {s.url} is not answering after {START_TIMEOUT_S:.0f} s; still waiting", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop(proc)
        signal.signal(signal.SIGTERM, previous)


def parse_args(argv: Sequence[str]) -> UiSettings:
    argv = list(argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m gptlab.ui",
        description="Start the MLflow UI on the project's tracking store (127.0.0.1 only by default).",
        epilog="Arguments after -- go to `mlflow server` unchanged.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to listen on (default: %(default)s, this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="default: %(default)s")
    parser.add_argument(
        "--backend-store-uri",
        default=None,
        help="MLflow store (default: logger.tracking_uri of conf/, i.e. the train stage's store)",
    )
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default: %(default)s)")
    args = parser.parse_args(argv)
    return UiSettings(
        backend_store_uri=args.backend_store_uri or project_tracking_uri(),
        host=args.host,
        port=args.port,
        workers=args.workers,
        extra_args=tuple(extra),
    )


def main(argv: Sequence[str] | None = None) -> None:
    from gptlab.cli.app import user_errors

    with user_errors():
        code = run(parse_args(sys.argv[1:] if argv is None else argv))
    raise SystemExit(code)


if __name__ == "__main__":
    main()
