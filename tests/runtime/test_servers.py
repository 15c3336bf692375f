"""gptlab.runtime.servers on real processes: a tiny HTTP server (``python -m http.server``
on 127.0.0.1) started, waited on, stopped and run in the foreground; servers that die at
start or never answer; ports in use. Every wait is bounded."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from gptlab.errors import ConfigError
from gptlab.runtime import servers

MARKER = "gptlab-servers-test"
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)", MARKER]


def group_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def runs_at_all(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def http_server(tmp_path):
    """A started ``python -m http.server`` on a free port: (server, url)."""
    port = servers.free_port("127.0.0.1")
    cmd = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
    server = servers.start(cmd, os.environ, "the test server", tmp_path / "server.log", tmp_path)
    yield server, f"http://127.0.0.1:{port}"
    if not group_gone(server.pid):
        os.killpg(server.pid, signal.SIGKILL)
        server.proc.wait()


def test_start_wait_and_stop_end_the_whole_group_and_free_the_port(http_server):
    server, url = http_server
    server.wait_started(lambda: servers.http_ok(url), 60)
    assert servers.http_ok(url) and server.running()
    assert server.stop() is True
    assert group_gone(server.pid) and server.proc.returncode is not None  # reaped, not a zombie
    assert not servers.http_ok(url)
    servers.check_port_free("127.0.0.1", int(url.rsplit(":", 1)[1]), "x")  # a server may listen there again
    assert server.stop() is False  # nothing left to stop


def test_stop_ends_the_workers_a_leader_left_behind(tmp_path):
    """MLflow's CLI may exit before the uvicorn it started: the group, not the leader, is waited on."""
    worker = tmp_path / "worker.pid"
    code = (f"import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            f"open({str(worker)!r}, 'w').write(str(p.pid))")  # fmt: skip
    server = servers.start([sys.executable, "-c", code], os.environ, "the test server")
    assert server.proc.wait(timeout=30) == 0
    pid = int(worker.read_text())
    assert os.getpgid(pid) == server.pid  # the orphaned worker is still in the group
    assert server.stop(timeout_s=5) is True
    assert not runs_at_all(pid)  # gone, or a zombie waiting for its reaper


def test_a_server_that_dies_at_start_fails_fast_with_its_exit_code_and_the_log_s_tail(tmp_path):
    log = tmp_path / "server.log"
    cmd = [sys.executable, "-c", "import sys; print('first'); print('bad flag --nope'); sys.exit(3)"]
    server = servers.start(cmd, os.environ, "the test server", log)
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as excinfo:
        server.wait_started(lambda: False, 60)
    assert time.monotonic() - t0 < 20  # not the whole timeout
    assert str(excinfo.value) == f"the test server exited with code 3 while starting: bad flag --nope (log: {log})"
    assert excinfo.value.exit_code == 2  # a command that starts servers fails as a config error does


def test_a_server_that_never_gets_ready_is_stopped(tmp_path):
    log = tmp_path / "server.log"
    server = servers.start(SLEEPER, {}, "the test server", log, tmp_path)
    with pytest.raises(ConfigError, match=r"^the test server did not answer within 1 s: see "):
        server.wait_started(lambda: False, 1.0)
    assert server.proc.poll() is not None and group_gone(server.pid)  # gone, not orphaned


def test_a_kept_server_is_found_by_pid_and_marker_and_not_stopped_by_a_failed_wait(tmp_path):
    proc = servers.start(SLEEPER, {}, "the test server", tmp_path / "server.log").proc
    try:
        deadline = time.monotonic() + 30
        while not servers.runs(proc.pid, MARKER):  # its command line is ours until it has executed python
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        assert servers.find(proc.pid, "some other program") is None  # a reused pid is not ours
        kept = servers.find(proc.pid, MARKER, "the test server")
        assert kept is not None and kept.proc is None
        with pytest.raises(ConfigError, match="did not answer within"):
            kept.wait_started(lambda: False, 0.5)
        assert proc.poll() is None  # not this call's to stop
        assert kept.stop() is True
        assert proc.poll() is not None and servers.find(proc.pid, MARKER) is None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_foreground_ends_on_ctrl_c_or_sigterm_with_0_and_stops_the_server(http_server, sig):
    server, url = http_server
    previous = signal.getsignal(signal.SIGTERM)
    seen = []

    def on_ready():
        seen.append(servers.http_ok(url))
        os.kill(os.getpid(), sig)  # what a terminal's Ctrl-C, or a scheduler's kill, does to the CLI

    assert server.foreground(lambda: servers.http_ok(url), 60, on_ready) == 0
    assert seen == [True]
    assert group_gone(server.pid) and not servers.http_ok(url)
    assert signal.getsignal(signal.SIGTERM) is previous


@pytest.mark.parametrize("wait_s", [0.2, 60])  # it exits after the wait for an answer, or during it
def test_a_foreground_server_that_exits_by_itself_passes_its_exit_code_on(capsys, wait_s):
    server = servers.start([sys.executable, "-c", "import sys, time; time.sleep(1); sys.exit(5)"], os.environ,
                           "the test server")  # fmt: skip
    with pytest.raises(ConfigError) as excinfo:
        server.foreground(lambda: False, wait_s, lambda: pytest.fail("never ready"))
    assert str(excinfo.value) == "the test server exited with code 5 (its messages are above)"
    assert excinfo.value.exit_code == 5
    still_waiting = "the test server is not answering after 0 s; still waiting" in capsys.readouterr().out
    assert still_waiting == (wait_s < 1)


def test_a_port_in_use_is_one_line_with_the_hint():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError) as excinfo:
            servers.check_port_free("127.0.0.1", port, "pass another port=...")
    assert str(excinfo.value) == f"cannot listen on 127.0.0.1:{port} (Address already in use): pass another port=..."


def test_a_port_left_in_time_wait_by_a_stopped_server_is_free():
    """A server that closed its connections first leaves them in TIME_WAIT on its port; the
    next server binds it anyway (SO_REUSEADDR), so the check must not refuse it."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn, gunicorn, PostgreSQL do
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        conn, _ = listener.accept()
        conn.close()  # the server side closes first: its end goes to TIME_WAIT
        time.sleep(0.1)
    client.close()
    servers.check_port_free("127.0.0.1", port, "x")


def test_port_and_worker_values_and_the_local_url():
    servers.check_port("port", 5000)
    for bad in (0, 65536, True, "5000"):
        with pytest.raises(ConfigError, match="^port must be between 1 and 65535, got "):
            servers.check_port("port", bad)
    with pytest.raises(ConfigError, match="^workers must be at least 1, got 0$"):
        servers.check_workers("workers", 0)
    assert servers.local_url("0.0.0.0", 80) == "http://127.0.0.1:80"
    assert servers.local_url("::", 80) == "http://[::1]:80"
    assert servers.local_url("10.1.2.3", 80) == "http://10.1.2.3:80"
