"""A server the stack starts but that never gets ready is stopped again, not left behind."""

from __future__ import annotations

import sys

import pytest

from gptlab.errors import ConfigError
from gptlab.team import processes

MARKER = "gptlab-team-test-server"


def test_a_server_that_never_gets_ready_is_stopped(tmp_path):
    log = tmp_path / "server.log"
    proc = processes.spawn([sys.executable, "-c", "import time; time.sleep(60)", MARKER], {}, log, tmp_path)
    try:
        with pytest.raises(ConfigError, match=r"^the test server did not answer within 1 s: see "):
            processes.wait_started(proc, proc.pid, MARKER, lambda: False, "the test server", log, 1.0)
        assert proc.wait(timeout=10) is not None  # gone, not orphaned
        assert not processes.runs(proc.pid, MARKER)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_kept_server_is_not_stopped_by_a_failed_wait(tmp_path):
    log = tmp_path / "server.log"
    proc = processes.spawn([sys.executable, "-c", "import time; time.sleep(60)", MARKER], {}, log, tmp_path)
    try:
        with pytest.raises(ConfigError):
            processes.wait_started(None, proc.pid, MARKER, lambda: False, "the test server", log, 0.5)
        assert proc.poll() is None  # not this call's to stop
    finally:
        proc.kill()
        proc.wait()
