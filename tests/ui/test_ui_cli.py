"""python -m gptlab.ui without starting a server: defaults, the command, user errors."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from gptlab import ui
from gptlab.errors import ConfigError

SECRET_URI = "https://alice:s3cret@mlflow.example:5000"


def test_defaults_are_the_project_store_on_localhost_only(workdir):
    s = ui.parse_args([])
    assert (s.host, s.port, s.backend_store_uri) == ("127.0.0.1", 5000, "sqlite:///mlflow.db")
    assert s.url == "http://127.0.0.1:5000"


def test_flags_and_pass_through_arguments():
    s = ui.parse_args(["--host", "0.0.0.0", "--port", "5123", "--backend-store-uri", "sqlite:///x.db",
                       "--", "--allowed-hosts", "box:5123"])  # fmt: skip
    assert (s.host, s.port, s.backend_store_uri) == ("0.0.0.0", 5123, "sqlite:///x.db")
    assert s.url == "http://127.0.0.1:5123"  # listening everywhere, reachable here
    cmd = ui.server_command(s)
    assert cmd[:4] == [sys.executable, "-m", "mlflow", "server"]
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0" and cmd[-2:] == ["--allowed-hosts", "box:5123"]


def test_the_store_uri_is_passed_by_environment_not_on_the_command_line():
    s = ui.UiSettings(backend_store_uri=SECRET_URI)
    assert not any("s3cret" in part for part in ui.server_command(s))
    assert ui.server_env(s)["MLFLOW_BACKEND_STORE_URI"] == SECRET_URI


def test_printed_url_line_redacts_credentials(monkeypatch, capsys):
    class FakeServer:
        pid = returncode = 0

        def wait(self, timeout=None):
            return 0

        def poll(self):
            return 0

    monkeypatch.setattr(ui, "start", lambda s: FakeServer())
    monkeypatch.setattr(ui, "wait_until_up", lambda s, proc, timeout_s=0: True)
    assert ui.run(ui.UiSettings(backend_store_uri=SECRET_URI, port=5999)) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:5999" in out and "***@mlflow.example:5000" in out
    assert "s3cret" not in out and "alice" not in out


def test_a_missing_sqlite_store_is_an_error_not_a_new_database(tmp_path):
    db = tmp_path / "missing.db"
    with pytest.raises(ConfigError, match="no MLflow store"):
        ui.start(ui.UiSettings(backend_store_uri=f"sqlite:///{db}"))
    assert not db.exists()


def test_a_port_in_use_is_an_error(tmp_path):
    db = tmp_path / "mlflow.db"
    db.touch()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*--port"):
            ui.start(ui.UiSettings(backend_store_uri=f"sqlite:///{db}", port=port))


def test_bad_port_is_a_config_error():
    with pytest.raises(ConfigError, match="port"):
        ui.UiSettings(backend_store_uri="sqlite:///x.db", port=70000)


def test_cli_error_is_one_line_and_exit_code_2(tmp_path, subprocess_env):
    res = subprocess.run(
        [sys.executable, "-m", "gptlab.ui", "--backend-store-uri", "sqlite:///missing.db"],
        cwd=tmp_path, env=subprocess_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.startswith("error: no MLflow store at sqlite:///missing.db") and res.stderr.count("\n") == 1
