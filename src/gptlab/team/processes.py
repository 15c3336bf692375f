"""Servers started in the background, found again by pid, stopped with bounded waits.

``start`` returns while the servers keep running, so each is started in a session of
its own (a terminal's Ctrl-C does not reach it) and remembered by pid; ``stop`` checks
that the pid still runs the same program before signalling it (a pid is reused once its
process is gone).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from gptlab.errors import ConfigError

STOP_TIMEOUT_S = 20.0


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


def check_port_free(host: str, port: int, what: str) -> None:
    if port_in_use(host, port):
        raise ConfigError(f"cannot start {what} on {host}:{port}: the port is in use (pass another port in conf/team.yaml)")


def free_port(host: str) -> int:
    """A port nothing listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def spawn(cmd: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path) -> subprocess.Popen:
    """Start ``cmd`` detached, its output appended to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            list(cmd), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def liveness(proc: subprocess.Popen | None, pid: int | None, marker: str) -> Callable[[], bool]:
    """Whether the server is still there: the process just started (by its exit status: its
    command line is this process's until it has executed the program), else the pid kept."""
    if proc is not None:
        return lambda: proc.poll() is None
    return lambda: runs(pid, marker)


def runs(pid: int | None, marker: str) -> bool:
    """Whether ``pid`` is alive and its command line holds ``marker`` (a zombie holds none)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline


def terminate(pid: int | None, marker: str, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM to the process group of ``pid`` (the server and the workers it started),
    SIGKILL after ``timeout_s``; whether it was running."""
    if not runs(pid, marker):
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)  # our own child (tests start the stack in-process)
            if not runs(pid, marker):
                return True
            time.sleep(0.1)
    return True


def wait_until(ready: Callable[[], bool], alive: Callable[[], bool], what: str, log: Path, timeout_s: float) -> None:
    """Poll ``ready`` until it holds; one line if the server exits or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        if not alive():
            raise ConfigError(f"{what} stopped while starting: see {log}")
        time.sleep(0.25)
    raise ConfigError(f"{what} did not answer within {timeout_s:.0f} s: see {log}")


def wait_started(proc: subprocess.Popen | None, pid: int | None, marker: str, ready: Callable[[], bool],
                 what: str, log: Path, timeout_s: float) -> None:  # fmt: skip
    """:func:`wait_until` for a server that is ``proc`` (started by this call) or the kept
    ``pid``. One started here that does not get ready is stopped again: its pid is recorded
    only once it is ready, and a server left running without a record would hold its port
    against the next start."""
    try:
        wait_until(ready, liveness(proc, pid, marker), what, log, timeout_s)
    except BaseException:
        if proc is not None:
            terminate(proc.pid, marker)
        raise


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own server
            return True
    except (urllib.error.URLError, OSError):
        return False
