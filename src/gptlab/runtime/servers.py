"""The one supervisor of the servers gptlab starts (docs/architecture.md): a session of its
own, waited on until it answers, stopped as a group; one kept between commands is found
again by pid and a word of its command line.
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
from dataclasses import dataclass
from pathlib import Path

from gptlab.errors import ConfigError

STOP_TIMEOUT_S = 20.0


def check_port(name: str, port: object) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{name} must be between 1 and 65535, got {port!r}")


def check_workers(name: str, workers: object) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"{name} must be at least 1, got {workers!r}")


def check_port_free(host: str, port: int, hint: str) -> None:
    """Whether a server can listen on ``host:port``: a bind, as the server will do it
    (SO_REUSEADDR, so a port left in TIME_WAIT by a stopped server counts as free)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): {hint}") from None


def free_port(host: str) -> int:
    """A port nothing listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def local_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches a server listening on ``host:port``."""
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own server
            return True
    except (urllib.error.URLError, OSError):
        return False


def runs(pid: int | None, marker: str) -> bool:
    """Whether ``pid`` is alive and its command line holds ``marker`` (a zombie holds none)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline


def group_running(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs. A zombie does not: no signal ends one,
    and an orphaned worker's is its new parent's to reap, which in a container may never be."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]  # after "pid (comm)"
            if int(group) == pgid and state != "Z":
                return True
    return False


@dataclass
class Server:
    """A server, the leader of its own process group (its pgid is its pid)."""

    pid: int
    what: str  # names it in messages, e.g. "the MLflow UI on http://127.0.0.1:5000"
    log: Path | None = None  # its output; None: this process's stdout and stderr
    proc: subprocess.Popen | None = None  # set when this process started it
    marker: str = ""  # a word of its command line, for a server found again by pid

    def running(self) -> bool:
        """Our child by its exit status (its command line is ours until it has executed the
        program), another process's by pid and marker."""
        return self.proc.poll() is None if self.proc is not None else runs(self.pid, self.marker)

    def _group_alive(self) -> bool:
        """Whether a process of its group still runs; the leader is reaped once none does."""
        if self.proc is not None and self.proc.poll() is None:
            # Asked first: /proc shows a leader whose main thread has ended as a zombie while
            # its other threads still run (MLflow's server is multi-threaded).
            return True
        if group_running(self.pid):
            return True
        if self.proc is None:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(self.pid, os.WNOHANG)  # our child all the same (tests start the stack in-process)
        return False

    def _exited(self) -> ConfigError:
        """The error for a server that stopped by itself."""
        code = self.proc.returncode if self.proc is not None else None
        how = "stopped" if code is None else f"exited with code {code}"
        if self.log is None:
            return ConfigError(f"{self.what} {how} (its messages are above)")
        lines = self.log.read_text(errors="replace").strip().splitlines() if self.log.is_file() else []
        tail = f": {lines[-1].strip()[:300]}" if lines else ""
        return ConfigError(f"{self.what} {how} while starting{tail} (log: {self.log})")

    def wait_ready(self, ready: Callable[[], bool], timeout_s: float) -> bool:
        """True once ``ready()`` holds, False after ``timeout_s``; an error (with the log's last
        line) as soon as the server exits."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready():
                return True
            if not self.running():
                raise self._exited()
            time.sleep(0.25)
        return False

    def wait_started(self, ready: Callable[[], bool], timeout_s: float) -> None:
        """:meth:`wait_ready`, an error after ``timeout_s``. A server started by this process
        that does not get ready is stopped again: a server left running without a record
        would hold its port against the next start."""
        try:
            if not self.wait_ready(ready, timeout_s):
                see = f": see {self.log}" if self.log else ""
                raise ConfigError(f"{self.what} did not answer within {timeout_s:.0f} s{see}")
        except BaseException:
            if self.proc is not None:
                self.stop()
            raise

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """SIGTERM to the process group, SIGKILL of what is left after ``timeout_s``, until the
        whole group is gone (MLflow's CLI may exit before its workers); whether it was running."""
        if not (self._group_alive() if self.proc is not None else runs(self.pid, self.marker)):
            return False
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if not self._group_alive():
                    return True
                time.sleep(0.1)
        return True

    def foreground(self, ready: Callable[[], bool], timeout_s: float, on_ready: Callable[[], None]) -> int:
        """Serve until Ctrl-C or SIGTERM (0), ``on_ready()`` once it answers; the server is
        stopped in any case. One that exits by itself is an error with its exit code."""
        assert self.proc is not None, "only a server started by this process runs in the foreground"

        def _terminate(signum, frame):  # noqa: ARG001 - signal handler signature
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            if self.wait_ready(ready, timeout_s):
                on_ready()
            else:
                print(f"{self.what} is not answering after {timeout_s:.0f} s; still waiting", flush=True)
            if self.proc.wait():
                raise self._exited()
            return 0
        except KeyboardInterrupt:
            return 0
        except ConfigError as err:  # it exited: run in the foreground, its exit code is the command's
            code = self.proc.returncode
            if code:
                err.exit_code = code if code > 0 else 128 - code  # killed by a signal: as a shell reports it
            raise
        finally:
            self.stop()
            signal.signal(signal.SIGTERM, previous)


def start(cmd: Sequence[str], env: Mapping[str, str], what: str, log: Path | None = None,
          cwd: Path | None = None) -> Server:  # fmt: skip
    """Start ``cmd`` in a session of its own, its output appended to ``log`` (else ours)."""
    with open(log, "ab") if log is not None else contextlib.nullcontext() as out:
        proc = subprocess.Popen(
            list(cmd), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT if out is not None else None, start_new_session=True,
        )  # fmt: skip
    return Server(proc.pid, what, log, proc)


def find(pid: int | None, marker: str, what: str = "", log: Path | None = None) -> Server | None:
    """The server kept as ``pid`` if it still runs a command line holding ``marker``."""
    return Server(pid, what, log, marker=marker) if pid and runs(pid, marker) else None
